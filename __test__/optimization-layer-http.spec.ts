import { once } from 'node:events'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import test from 'ava'

import { OptimizationLayer, UnavailableError, type OptimizationLayerOptions } from 'optlayer'

import { waitFor } from './helpers/wait'

const layers: OptimizationLayer<any, any>[] = []
const servers: Server[] = []

test.after.always(async () => {
  await Promise.all(layers.map((layer) => layer.stop({ drain: false })))
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
})

function open<D, R>(options: OptimizationLayerOptions<D, R>): OptimizationLayer<D, R> {
  const layer = new OptimizationLayer<D, R>(options)
  layers.push(layer)
  return layer
}

async function listen(server: Server): Promise<string> {
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

function send(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'POST', headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

function postJson(url: string, data: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return send(url, { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(data) })
}

/** A backend whose POST handler is `answer`; GETs (health checks) get 200. */
function backend(answer: (body: Buffer, res: import('node:http').ServerResponse) => void): Server {
  return createServer((req, res) => {
    if (req.method === 'GET') return void res.end('ok')
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => answer(Buffer.concat(chunks), res))
  })
}

test('handler(): a user key header longer than 512 bytes is a 400, not a 500', async (t) => {
  let runs = 0
  const layer = open({ processor: () => ++runs })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { n: 1 }, { 'x-api-key': 'k'.repeat(600) })
  t.is(reply.status, 400)
  t.is(JSON.parse(reply.body.toString()).error, 'bad_request')
  t.is(runs, 0)
  t.is((await postJson(url, { n: 1 }, { 'x-api-key': 'k'.repeat(100) })).status, 200)
})

test('backends: a 4xx is the answer, sent back with its status and body and not retried elsewhere', async (t) => {
  let hits = 0
  const refuse = (): Server =>
    backend((_body, res) => {
      hits++
      res.writeHead(422, { 'content-type': 'application/json' }).end('{"why":"no such item"}')
    })
  const [a, b] = await Promise.all([listen(refuse()), listen(refuse())])
  const layer = open({
    backends: [
      { id: 'a', url: a },
      { id: 'b', url: b },
    ],
    rateLimit: false,
  })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { item: 7 })
  t.is(reply.status, 422)
  t.deepEqual(JSON.parse(reply.body.toString()), { why: 'no such item' })
  t.regex(reply.headers['content-type'] ?? '', /^application\/json/)
  t.is(hits, 1)
})

test('backends: a body past maxBackendBodyBytes is refused with 502 without reading it all', async (t) => {
  let finished = false
  let closedEarly = false
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const huge = backend((_body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    let sent = 0
    const pump = (): void => {
      // 64 MiB in all; the layer must give up after 64 KiB.
      while (sent < 1024 && res.write(chunk)) sent++
      if (sent >= 1024) {
        finished = true
        res.end()
      } else res.once('drain', pump)
    }
    res.on('close', () => {
      if (!res.writableFinished) closedEarly = true
    })
    pump()
  })
  const hugeUrl = await listen(huge)
  const layer = open({ backends: [{ id: 'huge', url: hugeUrl }], maxBackendBodyBytes: 65_536, rateLimit: false })
  const url = await listen(createServer(layer.handler()))
  const reply = await postJson(url, { n: 1 })
  t.is(reply.status, 502)
  t.is(JSON.parse(reply.body.toString()).error, 'bad_gateway')
  await waitFor('the backend connection to be cut', () => closedEarly, 10_000, 20)
  t.false(finished)
})

test('start() rejects with UnavailableError when the configured Redis cannot be reached in time', async (t) => {
  const layer = open({
    processor: () => 1,
    redis: { url: 'redis://127.0.0.1:1' },
    startTimeoutMs: 300,
  })
  const error = await t.throwsAsync(layer.start(), { instanceOf: UnavailableError })
  t.regex(error.message, /redis/i)
  t.false(layer.ready().checks.started)
})
