import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

import test from 'ava'

import { runCli } from './helpers/cli'
import { waitFor } from './helpers/wait'

test('with no BACKENDS, optlayer serve proxies to its demo backend, caches, compresses and answers /process', async (t) => {
  const run = runCli({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', ACCESS_LOG: 'true' })
  t.teardown(() => run.kill('SIGKILL'))
  const origin = await run.listening
  const admin = await run.admin
  await waitFor('the demo hints', () => run.output().stdout.includes('/process'), 10_000, 20)
  t.regex(run.output().stdout, /no BACKENDS set: proxying to an in-process demo backend/)

  const first = await fetch(`${origin}/cacheable`)
  t.is(first.status, 200)
  t.is(first.headers.get('x-cache'), 'MISS')
  const body = await first.text()
  const second = await fetch(`${origin}/cacheable`)
  t.is(second.headers.get('x-cache'), 'HIT')
  t.is(await second.text(), body)

  const large = await fetch(`${origin}/large?kib=64`, { headers: { 'accept-encoding': 'br' } })
  t.is(large.headers.get('content-encoding'), 'br')
  t.regex(large.headers.get('vary') ?? '', /accept-encoding/i)
  // fetch decodes br itself: a body of the right length proves the encoding was sound.
  t.is((await large.arrayBuffer()).byteLength, 64 * 1024)

  const ask = (): Promise<Response> =>
    fetch(`${origin}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'to be or not to be' }),
    })
  const computed = (await (await ask()).json()) as { words: number; computedAt: string }
  t.is(computed.words, 6)
  const again = (await (await ask()).json()) as { computedAt: string }
  t.is(again.computedAt, computed.computedAt, 'the second answer comes from the cache')

  const metrics = await (await fetch(`${admin}/metrics`)).text()
  t.regex(metrics, /optlayer_gateway_/)
  await waitFor('access log lines', () => run.output().stdout.includes('"url":"/process"'), 10_000, 20)
  const lines = run
    .output()
    .stdout.split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { url: string; status: number; cache?: string })
  t.true(lines.some((line) => line.url === '/cacheable' && line.cache === 'HIT' && line.status === 200))

  run.kill('SIGTERM')
  t.is(await run.exited, 0)
})

test('with BACKENDS, optlayer serve proxies there and POSTs /process data to them', async (t) => {
  const seen: string[] = []
  const backend = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify({ path: req.url, received: body === '' ? null : JSON.parse(body) }))
    })
  })
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  t.teardown(() => backend.close())
  const { port } = backend.address() as AddressInfo
  const run = runCli({ PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', BACKENDS: `http://127.0.0.1:${port}` })
  t.teardown(() => run.kill('SIGKILL'))
  const origin = await run.listening

  const proxied = await fetch(`${origin}/some/path?q=1`)
  t.is(proxied.status, 200)
  t.is(proxied.headers.get('x-cache'), 'MISS')
  t.deepEqual(await proxied.json(), { path: '/some/path?q=1', received: null })
  const processed = await fetch(`${origin}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n: 7 }),
  })
  t.is(processed.status, 200)
  t.deepEqual(await processed.json(), { path: '/', received: { n: 7 } })
  t.false(run.output().stdout.includes('demo backend'))
  t.deepEqual(seen, ['GET /some/path?q=1', 'POST /'])
  run.kill('SIGTERM')
  t.is(await run.exited, 0)
})

test('optlayer serve stops at start-up naming a bad variable', async (t) => {
  for (const [env, name] of [
    [{ REDIS_URL: 'garbage://x' }, 'REDIS_URL'],
    [{ CACHE_L1_SIZE: 'abc' }, 'CACHE_L1_SIZE'],
    [{ BACKENDS: 'ftp://10.0.0.1' }, 'BACKENDS'],
  ] as const) {
    const run = runCli({ PORT: '0', ADMIN_PORT: '0', ...env })
    t.teardown(() => run.kill('SIGKILL'))
    t.is(await run.exited, 1, name)
    t.regex(run.output().stderr, new RegExp(`ERR_OPTLAYER_CONFIG: ${name}`), name)
  }
})
