import test from 'ava'

import { configFromEnv, InvalidArgumentError, OptlayerServer, serveGateway, startDemoBackend } from 'optlayer'

import { send } from './helpers/gateway'

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
