import test from 'ava'

import { configFromEnv, InvalidArgumentError, OptlayerServer, serveGateway, startDemoBackend } from 'optlayer'

import { listen, send } from './helpers/gateway'
import { waitFor } from './helpers/wait'

test('serveGateway: probes by the server, /process by its handler, the rest through the gateway, metrics on admin', async (t) => {
  const demo = await startDemoBackend()
  t.teardown(() => demo.close())
  const config = configFromEnv({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', RATE_LIMIT_PER_SECOND: '1000' })
  const served = await serveGateway({
    ...config,
    gateway: { name: 'served', backends: [{ url: demo.url }] },
    process: (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('processed'),
    server: { log: () => {} },
  })
  const url = served.url.origin
  const health = await send(`${url}/health`)
  t.is(health.status, 200)
  t.is(typeof health.json().uptimeSeconds, 'number')
  const page = await send(`${url}/cacheable`)
  t.is(page.status, 200)
  t.is(page.headers['x-cache'], 'MISS')
  t.is(page.headers['ratelimit-limit'], '1000')
  t.is((await send(`${url}/process`, { method: 'POST', body: '{}' })).body.toString(), 'processed')
  const metrics = await send(`${served.server.adminUrl!.origin}/metrics`)
  t.regex(metrics.body.toString(), /optlayer_gateway_requests_total\{gateway="served",outcome="miss"\} 1/)
  await served.close()
  t.is(served.close(), served.close())
  t.false(served.gateway.health().ok)
})

test('OptlayerServer: fallback must be a request listener; without one, unknown paths are 404', async (t) => {
  t.throws(() => new OptlayerServer({ fallback: 5 } as never), {
    instanceOf: InvalidArgumentError,
    message: /fallback/,
  })
  const server = new OptlayerServer({ port: 0, host: '127.0.0.1', admin: false, log: () => {} })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.is((await send(`${url.origin}/anything`)).status, 404)
})

test('serveGateway: /ready is the gateway readiness joined to processReady; backends all down → 503, up → 200', async (t) => {
  const backend = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('up'))
  let processReady = true
  const served = await serveGateway({
    ...configFromEnv({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0' }),
    gateway: { backends: [{ url: backend.url }], cache: false },
    process: (_req, res) => res.end(),
    processReady: () => ({ ok: processReady, checks: { queue: processReady } }),
    server: { log: () => {} },
  })
  t.teardown(() => served.close())
  const url = served.url.origin
  const up = await send(`${url}/ready`)
  t.is(up.status, 200)
  t.deepEqual(up.json(), {
    status: 'ready',
    checks: { accepting: true, backends: true, capacity: true, 'process.queue': true },
  })
  processReady = false
  const layerDown = await send(`${url}/ready`)
  t.is(layerDown.status, 503)
  t.is(layerDown.json().checks['process.queue'], false)
  processReady = true
  await backend.close()
  // Failed requests are what tell the balancer the backend is gone.
  await waitFor('the backend to be taken out', async () => {
    await send(`${url}/page`)
    return !served.gateway.ready().ok
  })
  const down = await send(`${url}/ready`)
  t.is(down.status, 503)
  t.is(down.json().status, 'not_ready')
  t.false(down.json().checks.backends)
})

test('OptlayerServer: a ready hook that throws makes /ready 503; one that says ok, 200', async (t) => {
  let fail = true
  const lines: string[] = []
  const server = new OptlayerServer({
    port: 0,
    host: '127.0.0.1',
    admin: false,
    log: (line) => lines.push(line),
    ready: async () => {
      if (fail) throw new Error('no answer')
      return { ok: true, checks: { mine: true } }
    },
  })
  t.throws(() => new OptlayerServer({ ready: 'yes' } as never), { instanceOf: InvalidArgumentError, message: /ready/ })
  const url = await server.listen()
  t.teardown(() => server.close())
  const failing = await send(`${url.origin}/ready`)
  t.is(failing.status, 503)
  t.is(failing.json().status, 'not_ready')
  t.regex(lines.join('\n'), /readiness check failed: Error: no answer/)
  fail = false
  const ok = await send(`${url.origin}/ready`)
  t.is(ok.status, 200)
  t.deepEqual(ok.json(), { status: 'ready', checks: { mine: true } })
})
