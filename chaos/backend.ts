/**
 * The chaos suite's backend, run as its own process so a scenario can SIGKILL it and start it again on the same port:
 * a node:http server on 127.0.0.1:<argv[2]> (0: a free port, printed as `listening <port>` on stdout).
 *
 * - `GET /cached/<n>`: a small JSON body shared caches may keep for `CHAOS_MAX_AGE_S` seconds (default 2); HEAD too.
 * - `GET /fresh/<n>`: the same body marked `no-store`, so every request reaches a backend; HEAD too.
 * - `POST /order`: echoes the body's length; not idempotent, so a gateway must not retry it.
 * - `GET /__served`: how many requests this process answered (its own asks excluded).
 *
 * `CHAOS_DELAY_MS` holds every answer that long, so requests are in flight when the process is killed.
 */
import http from 'node:http'

const port = Number(process.argv[2] ?? 0)
const delayMs = Number(process.env.CHAOS_DELAY_MS ?? 0)
const maxAgeS = Number(process.env.CHAOS_MAX_AGE_S ?? 2)
let served = 0

function answer(res: http.ServerResponse, status: number, cacheControl: string, body: string): void {
  const send = (): void => {
    served++
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': cacheControl,
    })
    res.end(body)
  }
  if (delayMs > 0) setTimeout(send, delayMs)
  else send()
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/'
  if (url === '/__served') {
    res.end(JSON.stringify({ served, pid: process.pid }))
    return
  }
  const item = /^\/(cached|fresh)\/(\d+)$/.exec(url)
  if ((req.method === 'GET' || req.method === 'HEAD') && item !== null) {
    const body = JSON.stringify({ item: Number(item[2]), pid: process.pid, at: Date.now() })
    answer(res, 200, item[1] === 'cached' ? `public, max-age=${maxAgeS}` : 'no-store', body)
    return
  }
  if (req.method === 'POST' && url === '/order') {
    let length = 0
    req.on('data', (chunk: Buffer) => (length += chunk.length))
    req.on('end', () => answer(res, 201, 'no-store', JSON.stringify({ received: length })))
    return
  }
  answer(res, 404, 'no-store', '{"error":"not found"}')
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : port}\n`)
})
