'use strict'

// `npm run loadtest`: HTTP load with wrk, on loopback only, against optlayer's gateway
// (`optlayer serve` in front of a backend), the runtime's ceiling (a bare node:http server
// answering from memory) and peers in front of the same backend (nginx with and without
// proxy_cache, fastify with its proxy, rate-limit and compress plugins, a minimal undici
// proxy). wrk, the server and the backend share the machine's cores: nothing is pinned, and
// the CPU time of the server and of the backend is reported per request beside the speed.
//
//   node benchmark/loadtest.js [--duration 10] [--warmup 2] [--connections 64] [--threads 1]
//                              [--cases bare,gateway-cached,...]
//
// A run of every case writes benchmark/results/loadtest.json and regenerates the tables of
// benchmark/README.md; a run of some cases (--cases) only prints its table.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync, spawn } = require('node:child_process')
const { parseArgs } = require('node:util')
const { writeResults, printTable, formatNumber } = require('./harness')
const { updateReadme } = require('./readme-table')
const { BODY, priceOf } = require('./loadtest-backend')
const { startNginx } = require('./loadtest-nginx')
const {
  freePort,
  startProcess,
  waitUntilListening,
  stopProcess,
  cpuSample,
  cpuSpentUs,
  loadAverage,
} = require('./loadtest-processes')

const REPO_ROOT = path.join(__dirname, '..')
const WRK_SCRIPT = path.join(__dirname, 'loadtest-wrk.lua')
const CLI = path.join(REPO_ROOT, 'dist', 'cli.js')
const GATEWAY_BUILD = path.join(REPO_ROOT, 'dist', 'gateway')
const PEER_PACKAGES = ['fastify', '@fastify/http-proxy', '@fastify/rate-limit', '@fastify/compress', 'undici']
const INSTALL_HINT = 'on Debian/Ubuntu: apt-get install -y wrk nginx-light (or nginx)'

// Ratios keep 3 significant digits, as in the other suites' tables.
const formatRatio = (value) => value.toPrecision(3)
const node = (script, ...args) => [process.execPath, [path.join(__dirname, script), ...args]]
/** What `optlayer serve` reads: loopback listeners, no fixed admin port, the backend, the workers. */
const gatewayEnv = (ctx, workers, extra) => ({
  PORT: String(ctx.port),
  HOST: '127.0.0.1',
  ADMIN_PORT: '0',
  BACKENDS: ctx.backendUrl,
  WORKERS: String(workers),
  ...extra,
})
const gateway =
  (workers, extra = {}) =>
  (ctx) =>
    startProcess(
      `optlayer serve (WORKERS=${workers}${Object.keys(extra).map((name) => `, ${name}=${extra[name]}`)})`,
      process.execPath,
      [CLI, 'serve'],
      gatewayEnv(ctx, workers, extra),
    )
// The gateway's cases on node:http alone; the native front, the default, has cases of its own.
const NODE_LISTENER = { NATIVE_FRONT: 'false' }
const peer = (kind) => (ctx) =>
  startProcess(kind, ...node('loadtest-servers.js', kind, String(ctx.port), ctx.backendUrl))

/**
 * The cases, in the order they run. `role`: ceiling (no backend behind it), backend (the
 * backend alone), ours, peer. `body`: the wrk script's LOADTEST_BODY. `peers`: the peer cases
 * the README compares an `ours` case with (the JSON holds the ratio to every peer).
 */
const CASES = [
  { id: 'bare', label: 'bare node:http (ceiling)', role: 'ceiling', path: '/cacheable', start: peer('bare') },
  {
    id: 'bare-cluster',
    label: 'bare node:http, cluster of 2 (ceiling)',
    role: 'ceiling',
    path: '/cacheable',
    start: peer('bare-cluster'),
  },
  { id: 'backend', label: 'backend alone, /cacheable', role: 'backend', path: '/cacheable', start: null },
  {
    id: 'gateway-cached',
    label: 'optlayer gateway, cached GET',
    role: 'ours',
    needs: 'gateway',
    path: '/cacheable',
    start: gateway(1, NODE_LISTENER),
    peers: ['nginx-cache'],
  },
  {
    id: 'gateway-proxy',
    label: 'optlayer gateway, proxied GET (no-store)',
    role: 'ours',
    needs: 'gateway',
    path: '/no-store',
    start: gateway(1, NODE_LISTENER),
    peers: ['nginx-proxy', 'fastify', 'undici'],
  },
  {
    id: 'gateway-process-cached',
    label: 'optlayer /process, same body (layer cache hit)',
    role: 'ours',
    needs: 'gateway',
    path: '/process',
    body: 'fixed',
    start: gateway(1, NODE_LISTENER),
    peers: [],
  },
  {
    id: 'gateway-process-uncached',
    label: 'optlayer /process, unique bodies (miss, POST to backend)',
    role: 'ours',
    needs: 'gateway',
    path: '/process',
    body: 'unique',
    start: gateway(1, NODE_LISTENER),
    peers: [],
  },
  {
    id: 'gateway-cached-workers2',
    label: 'optlayer gateway, cached GET, WORKERS=2',
    role: 'ours',
    needs: 'gateway',
    path: '/cacheable',
    start: gateway(2, NODE_LISTENER),
    reference: 'bare-cluster',
    peers: ['nginx-cache'],
  },
  {
    id: 'native-cached',
    label: 'optlayer native front, cached GET',
    role: 'ours',
    needs: 'gateway',
    path: '/cacheable',
    start: gateway(1, { NATIVE_FRONT: 'true' }),
    peers: ['nginx-cache'],
  },
  {
    id: 'native-process-cached',
    label: 'optlayer native front, /process, same body (published result)',
    role: 'ours',
    needs: 'gateway',
    path: '/process',
    body: 'fixed',
    start: gateway(1, { NATIVE_FRONT: 'true' }),
    peers: [],
  },
  {
    id: 'native-cached-workers2',
    label: 'optlayer native front, cached GET, WORKERS=2',
    role: 'ours',
    needs: 'gateway',
    path: '/cacheable',
    start: gateway(2, { NATIVE_FRONT: 'true' }),
    reference: 'bare-cluster',
    peers: ['nginx-cache'],
  },
  {
    id: 'native-proxy',
    label: 'optlayer native front, proxied GET (no-store)',
    role: 'ours',
    needs: 'gateway',
    path: '/no-store',
    start: gateway(1, { NATIVE_FRONT: 'true' }),
    // What the relay to the gateway costs: against the gateway on its own listener.
    reference: 'gateway-proxy',
    peers: ['nginx-proxy', 'fastify', 'undici'],
  },
  {
    id: 'nginx-cache',
    label: 'nginx, 1 worker, proxy_cache',
    role: 'peer',
    needs: 'nginx',
    path: '/cacheable',
    start: (ctx) => startNginx({ port: ctx.port, backendPort: ctx.backendPort, cache: true }),
  },
  {
    id: 'nginx-proxy',
    label: 'nginx, 1 worker, no cache (no-store)',
    role: 'peer',
    needs: 'nginx',
    path: '/no-store',
    start: (ctx) => startNginx({ port: ctx.port, backendPort: ctx.backendPort, cache: false }),
  },
  {
    id: 'fastify',
    label: 'fastify + http-proxy + rate-limit + compress (no-store)',
    role: 'peer',
    path: '/no-store',
    start: peer('fastify'),
  },
  {
    id: 'undici',
    label: 'node:http + undici Pool proxy (no-store)',
    role: 'peer',
    path: '/no-store',
    start: peer('undici'),
  },
]

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      threads: { type: 'string', default: '1' },
      cases: { type: 'string' },
    },
  })
  const positive = (name) => {
    const value = Number(values[name])
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${name} must be a positive integer, got ${values[name]}`)
    return value
  }
  const ids = values.cases === undefined ? CASES.map((c) => c.id) : values.cases.split(',').filter(Boolean)
  const unknown = ids.filter((id) => !CASES.some((c) => c.id === id))
  if (unknown.length > 0) {
    throw new Error(`unknown case ${unknown.join(', ')}; cases: ${CASES.map((c) => c.id).join(', ')}`)
  }
  const warmup = Number(values.warmup)
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup must be a whole number, got ${values.warmup}`)
  return {
    durationS: positive('duration'),
    warmupS: warmup,
    connections: positive('connections'),
    threads: positive('threads'),
    cases: CASES.filter((c) => ids.includes(c.id)),
  }
}

/** Version line of a tool, or undefined when it is not on the PATH. */
function toolVersion(command, flag) {
  const result = spawnSync(command, [flag], { encoding: 'utf8' })
  if (result.error !== undefined) return undefined
  return `${result.stdout}${result.stderr}`.split('\n')[0].trim()
}

/** Why a case cannot run here, or undefined when it can. */
function unavailable(testCase, tools) {
  if (testCase.needs === 'nginx' && tools.nginx === undefined) return `nginx not installed (${INSTALL_HINT})`
  if (testCase.needs === 'gateway' && !fs.existsSync(GATEWAY_BUILD)) {
    return 'the gateway is not built on this tree (no dist/gateway)'
  }
  return undefined
}

/** The POST body of the answer check; the wrk script's fixed body. */
const PROCESS_DATA = { item: 1, op: 'price' }
const PROCESS_RESULT = Buffer.from(JSON.stringify(priceOf(PROCESS_DATA)))

/**
 * Checks that the server answers the case's request from the backend: the backend's body for
 * the GET paths, the backend processor's result for POST /process (so not a result made in
 * the server itself). A server that answers otherwise is reported instead of measured.
 */
async function checkAnswer(testCase, url) {
  const init =
    testCase.body === undefined
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(PROCESS_DATA) }
  const expected = testCase.body === undefined ? BODY : PROCESS_RESULT
  const headers = {}
  // Twice: the second answer of a caching proxy (or of the layer) comes from its cache.
  for (let i = 0; i < 2; i++) {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) })
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200) return { error: `answered ${res.status} to ${init.method ?? 'GET'} ${testCase.path}` }
    if (!body.equals(expected)) {
      return { error: `answered ${testCase.path} with a body other than the backend's (${body.length} bytes)` }
    }
    for (const name of ['x-cache', 'x-cache-status']) if (res.headers.has(name)) headers[name] = res.headers.get(name)
  }
  return { headers }
}

/** One wrk run; resolves with the figures the Lua done hook prints. */
function runWrk(url, seconds, options, body) {
  return new Promise((resolve, reject) => {
    const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${seconds}s`]
    const child = spawn('wrk', [...args, '--latency', '-s', WRK_SCRIPT, url], {
      env: { ...process.env, LOADTEST_BODY: body ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.once('error', reject)
    child.once('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('LOADTEST_JSON '))
      if (code !== 0 || line === undefined) reject(new Error(`wrk failed (exit ${code}): ${output.trim()}`))
      else resolve(JSON.parse(line.slice('LOADTEST_JSON '.length)))
    })
  })
}

/** Starts the case's server, checks its answer, warms it up and measures it. */
async function measureCase(testCase, options, ctx) {
  const start = testCase.start
  const port = start === null ? ctx.backendPort : await freePort()
  const url = `http://127.0.0.1:${port}${testCase.path}`
  const proc = start === null ? undefined : start({ ...ctx, port })
  const startedWith = proc?.name ?? 'backend'
  try {
    if (proc !== undefined) await waitUntilListening(proc, `http://127.0.0.1:${port}/`)
    const answer = await checkAnswer(testCase, url)
    if (answer.error !== undefined) return { available: false, reason: `${startedWith}: ${answer.error}` }
    if (options.warmupS > 0) await runWrk(url, options.warmupS, options, testCase.body)
    const serverPid = proc?.child.pid
    const loadBefore = loadAverage()
    const serverBefore = serverPid === undefined ? undefined : cpuSample(serverPid)
    const backendBefore = cpuSample(ctx.backend.child.pid)
    const wrk = await runWrk(url, options.durationS, options, testCase.body)
    const backendUs = cpuSpentUs(backendBefore, cpuSample(ctx.backend.child.pid))
    const serverUs = serverPid === undefined ? backendUs : cpuSpentUs(serverBefore, cpuSample(serverPid))
    return {
      available: true,
      startedWith,
      answerHeaders: answer.headers,
      requests: wrk.requests,
      durationS: wrk.durationUs / 1e6,
      requestsPerSecond: wrk.requests / (wrk.durationUs / 1e6),
      latencyMs: Object.fromEntries(Object.entries(wrk.latencyUs).map(([key, us]) => [key, us / 1000])),
      socketErrors: wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.timeout,
      wrkErrors: wrk.errors,
      // wrk counts answers with a status of 400 and above as status errors.
      statusErrors: wrk.errors.status,
      cpuUsPerRequest: {
        server: serverUs / wrk.requests,
        // For the backend case the server is the backend: not counted twice.
        backend: serverPid === undefined ? 0 : backendUs / wrk.requests,
      },
      loadAverageBefore: loadBefore,
    }
  } catch (error) {
    return { available: false, reason: `${startedWith}: ${error.message.slice(0, 500)}` }
  } finally {
    if (proc !== undefined) {
      await stopProcess(proc)
      proc.cleanup?.()
    }
  }
}

/** Requests/s ratios: to the ceiling (the cluster one for 2-worker cases) and to every peer measured. */
function addRatios(results) {
  const byId = new Map(results.map((r) => [r.id, r]))
  const rps = (id) => (byId.get(id)?.available ? byId.get(id).requestsPerSecond : undefined)
  for (const result of results) {
    if (!result.available) continue
    const reference = result.reference
    result.vsReference = rps(reference) === undefined ? null : result.requestsPerSecond / rps(reference)
    if (result.role !== 'ours') continue
    result.vsPeers = {}
    for (const other of results) {
      if (other.role === 'peer' && other.available)
        result.vsPeers[other.id] = result.requestsPerSecond / other.requestsPerSecond
    }
  }
}

function vsPeersText(result) {
  if (result.role !== 'ours') return ''
  return (result.peers ?? [])
    .filter((id) => result.vsPeers[id] !== undefined)
    .map((id) => `${formatRatio(result.vsPeers[id])}× ${id}`)
    .join('; ')
}

function tableRows(results) {
  return results.map((r) => {
    if (!r.available) return [r.label, `not available: ${r.reason}`, '', '', '', '', '', '', '']
    const cpu = r.cpuUsPerRequest
    return [
      r.label,
      formatNumber(r.requestsPerSecond),
      formatNumber(r.latencyMs.p50),
      formatNumber(r.latencyMs.p99),
      formatNumber(r.latencyMs.p999),
      `${r.socketErrors} / ${r.statusErrors}`,
      r.role === 'backend' || r.role === 'ceiling'
        ? formatNumber(cpu.server)
        : `${formatNumber(cpu.server)} + ${formatNumber(cpu.backend)}`,
      r.vsReference === null ? '-' : `${formatRatio(r.vsReference)}× ${r.reference}`,
      vsPeersText(r),
    ]
  })
}

/** The requests/s the specification asks of one deployment, for the per-core projection. */
const SPECIFIED_RPS = 100_000

/**
 * The lines under the table (short: they widen the first column): the load during the run,
 * and what the native front's cached case comes to per core of its own CPU time.
 */
function tableNotes(options, loadBefore, loadAfter, results) {
  const notes = [
    `load average ${loadBefore.join(' ')} before, ${loadAfter.join(' ')} after; ` +
      `${options.durationS} s a case, ${options.connections} connections`,
  ]
  const native = results.find((r) => r.id === 'native-cached' && r.available)
  if (native !== undefined) {
    const perCore = 1e6 / native.cpuUsPerRequest.server
    notes.push(
      `native front, cached: ${formatNumber(native.cpuUsPerRequest.server)} µs CPU a request, ` +
        `${formatNumber(perCore)} requests/s per core; ${formatNumber(SPECIFIED_RPS)} requests/s ` +
        `take ${(SPECIFIED_RPS / perCore).toFixed(2)} cores (clients aside)`,
    )
  }
  return notes
}

const HEADERS = [
  'case',
  'requests/s',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'socket errors / status ≥ 400',
  'CPU µs/request (server + backend)',
  'requests/s vs ceiling',
  'requests/s vs peers',
]

async function main(argv) {
  const options = parseOptions(argv)
  const tools = { wrk: toolVersion('wrk', '-v'), nginx: toolVersion('nginx', '-v') }
  if (tools.wrk === undefined) {
    console.error(`loadtest: wrk is not installed; it drives every case (${INSTALL_HINT})`)
    process.exitCode = 1
    return
  }
  if (tools.nginx === undefined)
    console.warn(`loadtest: nginx is not installed, its cases are skipped (${INSTALL_HINT})`)

  const loadBefore = loadAverage()
  const backendPort = await freePort()
  const backend = startProcess('backend', ...node('loadtest-backend.js', String(backendPort)))
  const results = []
  try {
    await waitUntilListening(backend, `http://127.0.0.1:${backendPort}/cacheable`)
    const ctx = { backend, backendPort, backendUrl: `http://127.0.0.1:${backendPort}` }
    for (const testCase of options.cases) {
      const reason = unavailable(testCase, tools)
      const { start, needs, ...description } = testCase
      const reference = testCase.reference ?? 'bare'
      console.log(`\n${testCase.label} (${testCase.id})`)
      const measured = reason === undefined ? await measureCase(testCase, options, ctx) : { available: false, reason }
      const result = { ...description, reference, ...measured }
      if (result.available) {
        // The cache headers of the second checked answer say whether the case ran from a cache.
        const cacheHeaders = Object.entries(result.answerHeaders).map(([name, value]) => `, ${name} ${value}`)
        console.log(
          `  ${formatNumber(result.requestsPerSecond)} requests/s, p50 ${formatNumber(result.latencyMs.p50)} ms, ` +
            `p99 ${formatNumber(result.latencyMs.p99)} ms, p99.9 ${formatNumber(result.latencyMs.p999)} ms` +
            cacheHeaders.join(''),
        )
      } else console.log(`  not available: ${result.reason}`)
      results.push(result)
    }
  } finally {
    await stopProcess(backend)
  }
  addRatios(results)
  const loadAfter = loadAverage()

  console.log(
    `\nloadtest (${options.durationS} s a case, ${options.connections} connections, ${options.threads} wrk thread)`,
  )
  const rows = tableRows(results)
  printTable(HEADERS, rows, 1)
  const notes = tableNotes(options, loadBefore, loadAfter, results)
  for (const note of notes) console.log(note)

  if (options.cases.length < CASES.length) {
    // A partial run would leave the results and the README with a table of some cases only.
    console.log('some cases only: benchmark/results/loadtest.json and benchmark/README.md left as they are')
    return
  }
  const file = writeResults('loadtest', {
    packages: PEER_PACKAGES,
    parameters: {
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      wrkThreads: options.threads,
      casesRun: options.cases.map((c) => c.id),
      bodyBytes: BODY.length,
      note:
        'wrk, the server and the backend share the cores, nothing pinned; CPU time from /proc/<pid>/stat ' +
        '(utime + stime) of the server process tree and of the backend over the measured run, divided by ' +
        'the requests; the clients send no Accept-Encoding, so nothing is compressed',
    },
    tools,
    loadAverage: { before: loadBefore, after: loadAfter },
    cases: results,
    readmeTable: {
      headers: HEADERS,
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
      rows: [...rows, ...notes.map((note) => [note, ...Array(HEADERS.length - 1).fill('')])],
    },
  })
  console.log(`results written to ${path.relative(REPO_ROOT, file)}`)
  if (await updateReadme()) console.log('benchmark/README.md tables updated')
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err)
  process.exitCode = 1
})
