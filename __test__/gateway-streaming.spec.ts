import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'

import test from 'ava'

import { Gateway } from 'optlayer'

import { listen, type TestServer } from './helpers/gateway'

/**
 * Bodies far larger than the memory a proxy may spend on them, each way, in one process
 * (client, gateway, backend): the resident set may grow by at most RSS_BOUND_BYTES over the
 * transfer (a body held whole would take at least 256 MiB; the transfer alone costs some tens
 * of MiB of socket buffers and garbage). OPTLAYER_GATEWAY_GIB=1 streams 1 GiB instead of 256 MiB.
 */
const BODY_BYTES = process.env.OPTLAYER_GATEWAY_GIB === '1' ? 1024 ** 3 : 256 * 1024 ** 2
const RSS_BOUND_BYTES = 96 * 1024 ** 2
const CHUNK = Buffer.alloc(64 * 1024, 7)

const opened: { close(): Promise<unknown> }[] = []
test.after.always(async () => {
  await Promise.all(opened.map((o) => o.close().catch(() => {})))
})

/** `bytes` of zeros-and-sevens, produced as they are read (never held). */
function source(bytes: number): Readable {
  let left = bytes
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null)
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
      left -= chunk.length
      this.push(chunk)
    },
  })
}

/** Samples the resident set every 20 ms until stopped; returns the peak over `baseline`. */
function watchRss(): () => number {
  const baseline = process.memoryUsage.rss()
  let peak = baseline
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  return () => {
    clearInterval(timer)
    return Math.max(peak, process.memoryUsage.rss()) - baseline
  }
}

async function setUp(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const backend: TestServer = await listen(handler)
  const gateway = new Gateway({ backends: [{ url: backend.url }] })
  const front = await listen(gateway.handler())
  opened.push(front, gateway, backend)
  return front.url
}

test.serial(`a ${BODY_BYTES / 1024 ** 2} MiB upload streams through with bounded memory`, async (t) => {
  const url = await setUp((req, res) => {
    let bytes = 0
    req.on('data', (chunk: Buffer) => (bytes += chunk.length))
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes })))
  })
  global.gc?.()
  const stop = watchRss()
  // node:http, piped: fetch() with a Node stream as body reads it ahead without bound.
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${url}/upload`,
      { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, agent: false },
      (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    source(BODY_BYTES).pipe(req)
  })
  const growth = stop()
  t.is(answer.status, 200)
  t.deepEqual(JSON.parse(answer.text), { bytes: BODY_BYTES })
  t.log(`resident set grew by ${(growth / 1024 ** 2).toFixed(1)} MiB`)
  t.true(growth < RSS_BOUND_BYTES, `grew by ${growth} bytes`)
})

test.serial(`a ${BODY_BYTES / 1024 ** 2} MiB download streams through with bounded memory`, async (t) => {
  const url = await setUp((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY_BYTES })
    source(BODY_BYTES).pipe(res)
  })
  global.gc?.()
  const stop = watchRss()
  const response = await fetch(`${url}/download`)
  let bytes = 0
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length
  const growth = stop()
  t.is(response.status, 200)
  t.is(response.headers.get('x-cache'), 'MISS')
  t.is(bytes, BODY_BYTES)
  t.log(`resident set grew by ${(growth / 1024 ** 2).toFixed(1)} MiB`)
  t.true(growth < RSS_BOUND_BYTES, `grew by ${growth} bytes`)
})
