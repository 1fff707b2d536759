import { connect, type Socket } from 'node:net'

import test from 'ava'
import { OptlayerServer, type OptlayerServerOptions } from 'optlayer'

import { slowloris } from './helpers/slow-client'

/** Both listeners on loopback and free ports. */
const LOCAL = { port: 0, host: '127.0.0.1', admin: { port: 0 } } as const

async function started(
  t: { teardown(fn: () => Promise<void>): void },
  options: OptlayerServerOptions,
): Promise<{ server: OptlayerServer; url: URL; lines: string[] }> {
  const lines: string[] = []
  const server = new OptlayerServer({ ...LOCAL, log: (line) => lines.push(line), ...options })
  const url = await server.listen()
  t.teardown(() => server.close())
  return { server, url, lines }
}

/** A raw keep-alive connection that has had one request answered, so the server counts it. */
function heldConnection(url: URL): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
      if (received.includes('"status":"ok"')) resolve(socket)
    })
    socket.on('error', () => {})
    socket.on('close', () => reject(new Error(`closed after receiving ${JSON.stringify(received)}`)))
    socket.write(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`)
  })
}

test('a client trickling its headers is cut off after headersTimeoutMs with 408', async (t) => {
  const { url } = await started(t, { http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000 } })
  const slow = await slowloris(url, { everyMs: 100, giveUpMs: 15_000 })
  t.true(slow.closedByServer, `the server held the socket for ${slow.openMs} ms`)
  // Node checks the timeouts periodically: allow that and a loaded machine, far below its 60 s default.
  t.true(slow.openMs < 5_000, `closed after ${slow.openMs} ms`)
  t.regex(slow.received, /^HTTP\/1\.1 408 /)
})

test('the admin listener has the same limits', async (t) => {
  const { server } = await started(t, { http: { headersTimeoutMs: 500, requestTimeoutMs: 500 } })
  const slow = await slowloris(server.adminUrl as URL, { giveUpMs: 15_000 })
  t.true(
    slow.closedByServer && slow.openMs < 5_000,
    `closed by the server: ${slow.closedByServer}, after ${slow.openMs} ms`,
  )
})

test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
  const { url } = await started(t, { http: { keepAliveTimeoutMs: 300 } })
  const socket = await heldConnection(url)
  const opened = Date.now()
  await new Promise((resolve) => socket.on('close', resolve))
  t.true(Date.now() - opened < 3_000, `closed after ${Date.now() - opened} ms`)
})

test('connections over maxConnections are closed at once and logged; a freed slot is taken again', async (t) => {
  const { url, lines } = await started(t, { http: { maxConnections: 2, keepAliveTimeoutMs: 60_000 } })
  const held = [await heldConnection(url), await heldConnection(url)]
  t.teardown(async () => held.forEach((socket) => socket.destroy()))
  await t.throwsAsync(heldConnection(url), { message: /closed after receiving ""/ })
  t.true(
    lines.some((line) => /public listener at its 2 connections; refusing more/.test(line)),
    lines.join('\n'),
  )
  held[0]?.destroy()
  // The server notices the close asynchronously: retry until the slot is free.
  let admitted: Socket | undefined
  for (let attempt = 0; attempt < 100 && admitted === undefined; attempt++) {
    admitted = await heldConnection(url).catch(() => undefined)
    if (admitted === undefined) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.truthy(admitted, 'a connection is admitted once one of the two closed')
  admitted?.destroy()
})

test('a request head above maxHeaderSize gets 431', async (t) => {
  const { url } = await started(t, { http: { maxHeaderSize: 4_096 } })
  t.is((await fetch(new URL('/health', url), { headers: { 'x-big': 'x'.repeat(2_000) } })).status, 200)
  t.is((await fetch(new URL('/health', url), { headers: { 'x-big': 'x'.repeat(6_000) } })).status, 431)
})

test('invalid limits are refused at construction, naming the option', (t) => {
  for (const [http, name] of [
    [{ headersTimeoutMs: 0 }, 'headersTimeoutMs'],
    [{ maxConnections: 1.5 }, 'maxConnections'],
    [{ maxHeaderSize: 100 }, 'maxHeaderSize'],
    [{ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 }, 'headersTimeoutMs'],
  ] as const) {
    const error = t.throws(() => new OptlayerServer({ http }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
    t.true(error?.message.startsWith(`invalid ${name}: expected`), error?.message)
  }
})

test('admin routes are served on the admin listener only, on loopback by default', async (t) => {
  const { server, url, lines } = await started(t, { admin: { port: 0 } })
  t.is(server.adminUrl?.hostname, '127.0.0.1')
  for (const path of ['/metrics', '/alerts', '/dashboard', '/dashboard/data']) {
    t.is((await fetch(new URL(path, url))).status, 404, `public ${path}`)
    t.is((await fetch(new URL(path, server.adminUrl))).status, 200, `admin ${path}`)
  }
  t.is((await fetch(new URL('/health', server.adminUrl))).status, 404, 'probes go to the public listener')
  t.deepEqual(lines, [])

  const none = new OptlayerServer({ ...LOCAL, admin: false })
  const noneUrl = await none.listen()
  t.teardown(() => none.close())
  t.is(none.adminUrl, undefined)
  t.is((await fetch(new URL('/metrics', noneUrl))).status, 404)
})

test('with a token, every admin request needs it as a bearer token or a Basic password', async (t) => {
  const { server, url } = await started(t, { admin: { port: 0, token: 's3cret' } })
  const admin = (path: string, authorization?: string): Promise<Response> =>
    fetch(new URL(path, server.adminUrl), { headers: authorization === undefined ? {} : { authorization } })
  const basic = (user: string, password: string): string =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

  const refused = await admin('/metrics')
  t.is(refused.status, 401)
  // Two headers, since a browser reads only the first challenge of each: fetch joins them.
  t.is(refused.headers.get('www-authenticate'), 'Bearer realm="optlayer", Basic realm="optlayer"')
  for (const wrong of [
    'Bearer s3cre',
    'Bearer s3cret2',
    'Bearer',
    's3cret',
    basic('prometheus', 'nope'),
    basic('s3cret', ''),
  ]) {
    t.is((await admin('/metrics', wrong)).status, 401, wrong)
  }
  t.is((await admin('/nope')).status, 401, 'paths are not told apart without the token')
  t.is((await admin('/metrics', 'Bearer s3cret')).status, 200)
  t.is((await admin('/metrics', 'bearer  s3cret ')).status, 200)
  t.is((await admin('/dashboard', basic('ops', 's3cret'))).status, 200)
  t.is((await admin('/dashboard/data', basic('', 's3cret'))).status, 200)
  t.is((await fetch(new URL('/health', url))).status, 200, 'the public listener needs no token')
})

test('an admin listener beyond loopback without a token is reported at listen', async (t) => {
  const { lines } = await started(t, { admin: { port: 0, host: '0.0.0.0' } })
  t.is(lines.length, 1)
  t.regex(lines[0] ?? '', /admin routes on http:\/\/0\.0\.0\.0:\d+ are reachable beyond loopback without a token/)
})
