import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'
import { ConfigError, configFromEnv, VARIABLES, type Env } from 'optlayer'
import { parse, parseAllDocuments } from 'yaml'

// Docker and Kubernetes do not run in the test environment: the files are parsed and checked
// against the configuration table and against each other instead.

const root = join(__dirname, '..')
const deploy = join(root, 'deploy')
const known = new Set<string>(VARIABLES.map((v) => v.name))
/** Variables of the image that are Node's, not optlayer's. */
const NODE_VARIABLES = new Set(['NODE_ENV'])

/** A parsed YAML document, read loosely: the assertions check its shape. */
type Doc = Record<string, any>

/** Every Kubernetes object under deploy/k8s, by kind. */
function manifests(): Map<string, Doc> {
  const byKind = new Map<string, Doc>()
  for (const file of readdirSync(join(deploy, 'k8s')).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(deploy, 'k8s', file), 'utf8'))) {
      const object = doc.toJS() as Doc
      byKind.set(object.kind, object)
    }
  }
  return byKind
}

function get(kinds: Map<string, Doc>, kind: string): Doc {
  const object = kinds.get(kind)
  if (object === undefined) throw new Error(`no ${kind} in deploy/k8s`)
  return object
}

/** Reads `env` the way `optlayer serve` does; a ConfigError fails the test with its message. */
function valid(env: Env, where: string): ReturnType<typeof configFromEnv> {
  try {
    return configFromEnv(env, { warn: (message) => assert(false, `${where}: ${message}`) })
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(`${where}: ${error.message}`)
    throw error
  }
}

function assert(condition: boolean, message: string): void {
  if (!condition) throw new Error(message)
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfile(): Array<{ instruction: string; args: string }> {
  const text = readFileSync(join(deploy, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [instruction = '', ...rest] = line.split(/\s+/)
      return { instruction: instruction.toUpperCase(), args: rest.join(' ') }
    })
}

test('the Kubernetes manifests: probes on /health and /ready, ports matching the ConfigMap, non-root', (t) => {
  const kinds = manifests()
  const config = get(kinds, 'ConfigMap').data as Record<string, string>
  const secret = get(kinds, 'Secret').stringData as Record<string, string>
  const deployment = get(kinds, 'Deployment')
  const pod = deployment.spec.template.spec
  const [container] = pod.containers
  const ports = new Map<string, number>(container.ports.map((p: Doc) => [p.name, p.containerPort]))
  t.is(ports.get('http'), Number(config.PORT))
  t.is(ports.get('admin'), Number(config.ADMIN_PORT))
  t.deepEqual(container.livenessProbe.httpGet, { path: '/health', port: 'http' })
  t.deepEqual(container.readinessProbe.httpGet, { path: '/ready', port: 'http' })
  t.is(deployment.spec.template.metadata.annotations['prometheus.io/port'], config.ADMIN_PORT)
  t.true(pod.securityContext.runAsNonRoot)
  t.not(pod.securityContext.runAsUser, 0)
  t.false(container.securityContext.allowPrivilegeEscalation)
  t.truthy(container.resources.requests.cpu, 'the HPA needs a CPU request')
  t.truthy(container.resources.limits.memory)
  // The ConfigMap and the Secret the container reads are the ones defined, key by key.
  t.deepEqual(container.envFrom, [{ configMapRef: { name: get(kinds, 'ConfigMap').metadata.name } }])
  for (const env of container.env) {
    t.is(env.valueFrom.secretKeyRef.name, get(kinds, 'Secret').metadata.name)
    t.true(env.valueFrom.secretKeyRef.key in secret, env.name)
  }
  for (const value of Object.values(secret)) t.regex(value, /^REPLACE-ME/, 'placeholders, clearly marked')
  // Service, HPA and PDB point at the Deployment and its pods.
  const labels = deployment.spec.template.metadata.labels
  const service = get(kinds, 'Service')
  t.deepEqual(service.spec.selector, labels)
  for (const port of service.spec.ports) t.true(ports.has(port.targetPort), port.targetPort)
  const hpa = get(kinds, 'HorizontalPodAutoscaler')
  t.is(hpa.apiVersion, 'autoscaling/v2')
  t.like(hpa.spec.scaleTargetRef, { kind: 'Deployment', name: deployment.metadata.name })
  t.true(hpa.spec.minReplicas >= 2, 'the PDB can keep one pod while another is evicted')
  const pdb = get(kinds, 'PodDisruptionBudget')
  t.deepEqual(pdb.spec.selector.matchLabels, labels)
  t.true(pdb.spec.minAvailable < hpa.spec.minReplicas)
  const kustomization = parse(readFileSync(join(deploy, 'k8s', 'kustomization.yaml'), 'utf8')) as Doc
  t.deepEqual(
    [...kustomization.resources].sort(),
    readdirSync(join(deploy, 'k8s'))
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .sort(),
  )
})

test('every variable the manifests set is in the configuration table, and together they are a valid configuration', (t) => {
  const kinds = manifests()
  const config = get(kinds, 'ConfigMap').data as Record<string, string>
  const secret = get(kinds, 'Secret').stringData as Record<string, string>
  const [container] = get(kinds, 'Deployment').spec.template.spec.containers
  const names = [...Object.keys(config), ...Object.keys(secret), ...container.env.map((e: Doc) => e.name)]
  t.deepEqual(
    names.filter((name) => !known.has(name)),
    [],
  )
  const parsed = valid({ ...config, ...secret }, 'deploy/k8s')
  t.like(parsed, { port: 8080, admin: { port: 8081 }, balancer: { algorithm: 'p2c-ewma' } })
  t.deepEqual(parsed.redis, { url: `redis://:${secret.REDIS_PASSWORD}@redis:6379` })
})

test('docker-compose.yml: two gateways on one Redis in front of the demo backend, every variable valid', (t) => {
  const compose = parse(readFileSync(join(deploy, 'docker-compose.yml'), 'utf8'), { merge: true }) as Doc
  const services = compose.services as Record<string, Doc>
  const gateways = Object.keys(services).filter((name) => name.startsWith('gateway-'))
  t.is(gateways.length, 2)
  for (const [name, service] of Object.entries(services)) {
    if (service.environment === undefined) continue
    const env = service.environment as Record<string, string>
    t.deepEqual(
      Object.keys(env).filter((variable) => !known.has(variable)),
      [],
      name,
    )
    const config = valid(env, `docker-compose service ${name}`)
    if (gateways.includes(name)) {
      t.deepEqual(config.redis, { url: 'redis://redis:6379' })
      t.deepEqual(
        config.backends.map((b) => new URL(b.url).hostname),
        ['demo-backend'],
      )
      t.false(config.gateway.demo)
      t.not(config.admin.host, '127.0.0.1', `${name}: the admin port is published, so it listens beyond loopback`)
    }
  }
  t.true(valid(services['demo-backend']?.environment, 'demo-backend').gateway.demo)
  t.deepEqual(services['demo-backend']?.build, { context: '..', dockerfile: 'deploy/Dockerfile' })
})

test('the Dockerfile: Node 20 slim runtime, non-root, ports 8080 and 8081, /health check, serve command', (t) => {
  const instructions = dockerfile()
  const from = instructions.filter((i) => i.instruction === 'FROM').map((i) => i.args)
  t.true(
    from.some((f) => f.startsWith('rust:')),
    'the builder has the Rust toolchain',
  )
  t.regex(from.at(-1) ?? '', /^node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/)
  t.true(instructions.some((i) => i.instruction === 'ARG' && i.args === 'NODE_VERSION=20'))
  const runtime = instructions.slice(instructions.findIndex((i) => i.args.endsWith('AS runtime')))
  const user = runtime.find((i) => i.instruction === 'USER')?.args ?? 'root'
  t.false(/^(0|root)(:|$)/.test(user), `runs as ${user}`)
  t.deepEqual(runtime.find((i) => i.instruction === 'EXPOSE')?.args.split(' '), ['8080', '8081'])
  const env = runtime.find((i) => i.instruction === 'ENV')?.args ?? ''
  const variables = Object.fromEntries([...env.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]))
  t.deepEqual(
    Object.keys(variables).filter((name) => !known.has(name) && !NODE_VARIABLES.has(name)),
    [],
  )
  t.like(valid(variables, 'Dockerfile ENV'), { port: 8080, admin: { port: 8081 } })
  const healthcheck = runtime.find((i) => i.instruction === 'HEALTHCHECK')?.args ?? ''
  t.regex(healthcheck, /CMD \["node", "-e", ".*\/health/)
  t.notRegex(healthcheck, /curl|wget/)
  const cmd = JSON.parse(runtime.find((i) => i.instruction === 'CMD')?.args ?? '[]') as string[]
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Doc
  t.deepEqual(cmd, ['node', pkg.bin.optlayer, 'serve'])
  t.is(pkg.scripts.start, cmd.join(' '), 'the image starts what npm start starts')
  // The runtime copies only what the package runs from.
  const copied = runtime.filter((i) => i.instruction === 'COPY').flatMap((i) => i.args.split(' ').slice(1, -1))
  t.deepEqual(copied.sort(), [
    '/app/dist',
    '/app/index.d.ts',
    '/app/index.js',
    '/app/node_modules',
    '/app/optlayer.*.node',
    '/app/package.json',
  ])
})

test('the Docker build context holds what the builder copies', (t) => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
  const sources = dockerfile()
    .filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(' ').slice(0, -1))
  t.true(sources.length > 5)
  for (const source of sources) {
    t.true(existsSync(join(root, source)), `${source} exists`)
    t.false(ignored.includes(source), `${source} is not in .dockerignore`)
  }
})

test('hadolint finds nothing in the Dockerfile', (t) => {
  const probe = spawnSync('hadolint', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.log('hadolint is not installed (scripts/ensure-deploy-tools.sh installs it): lint skipped')
    t.pass()
    return
  }
  const lint = spawnSync('hadolint', [join(deploy, 'Dockerfile')], { encoding: 'utf8' })
  t.is(lint.status, 0, lint.stdout + lint.stderr)
})
