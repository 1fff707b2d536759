import { once } from 'node:events'
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { TestFn } from 'ava'
import { OptimizationLayer, type OptimizationLayerOptions } from 'optlayer'

const layers: OptimizationLayer<any, any>[] = []
const servers: Server[] = []

/** Stops every layer {@link openLayer} made and closes every server {@link listen} started, after the file's tests. */
export function closeAfterAll(test: TestFn): void {
  test.after.always(async () => {
    await Promise.all(layers.map((layer) => layer.stop({ drain: false })))
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
  })
}

/** A layer stopped after the file's tests. */
export function openLayer<D, R>(options: OptimizationLayerOptions<D, R>): OptimizationLayer<D, R> {
  const layer = new OptimizationLayer<D, R>(options)
  layers.push(layer)
  return layer
}

/** Listens on a free loopback port; the server is closed after the file's tests. */
export async function listen(server: Server): Promise<string> {
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A backend whose POST handler is `answer`; GETs (health checks) get 200. */
export function backend(answer: (body: Buffer, res: ServerResponse) => void): Server {
  return createServer((req, res) => {
    if (req.method === 'GET') return void res.end('ok')
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => answer(Buffer.concat(chunks), res))
  })
}

/** An HTTP answer, its body whole. */
export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** One HTTP request with full control of the headers and of how the body is sent (POST unless told). */
export function send(
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

/** POSTs `data` as JSON. */
export function postJson(url: string, data: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return send(url, { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(data) })
}
