'use strict'

// The load test's backend (and the body of its bare servers): a node:http server on
// 127.0.0.1:<argv[2]> answering GET /cacheable with a ~1 KiB JSON body that shared caches may
// keep for 60 s (with an ETag, and 304 to a matching If-None-Match), GET /no-store with the
// same body marked no-store, POST / as the processor behind the gateway's POST /process (the
// layer sends it the request's data as JSON and caches the JSON answer), and 404 otherwise.
// Run as its own process so that its CPU time is counted apart from the proxy in front of it.

const http = require('node:http')
const { createHash } = require('node:crypto')

const BODY = Buffer.from(
  JSON.stringify({
    items: Array.from({ length: 20 }, (_, i) => ({
      id: i + 1,
      name: `item ${i + 1}`,
      price: (i + 1) * 3,
      stock: 100 - i,
    })),
  }),
)
const ETAG = `"${createHash('sha1').update(BODY).digest('base64url')}"`

/** Headers of the cacheable answer; the bare servers answer with these too. */
const CACHEABLE_HEADERS = {
  'content-type': 'application/json',
  'content-length': String(BODY.length),
  'cache-control': 'public, max-age=60',
  etag: ETAG,
}
const NO_STORE_HEADERS = { ...CACHEABLE_HEADERS, 'cache-control': 'no-store' }
delete NO_STORE_HEADERS.etag

/** The processor's result for `data` (`{ item }`): a price from the item number. */
const priceOf = (data) => ({ item: data.item, price: Number(data.item) * 3 })

/** POST /: the trivial processor, so that /process measures the layer and not the work. */
function price(req, res) {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    let data
    try {
      data = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' })
      return res.end('the body is not JSON\n')
    }
    const body = JSON.stringify(priceOf(data))
    // no-store: what the layer keeps is its own cache's doing, not the backend's permission.
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    })
    res.end(body)
  })
}

function handle(req, res) {
  const path = (req.url ?? '/').split('?', 1)[0]
  if (path === '/cacheable') {
    if (req.headers['if-none-match'] === ETAG) {
      res.writeHead(304, { 'cache-control': CACHEABLE_HEADERS['cache-control'], etag: ETAG })
      return res.end()
    }
    res.writeHead(200, CACHEABLE_HEADERS)
    return res.end(req.method === 'HEAD' ? undefined : BODY)
  }
  if (path === '/' && req.method === 'POST') return price(req, res)
  if (path === '/no-store') {
    res.writeHead(200, NO_STORE_HEADERS)
    return res.end(req.method === 'HEAD' ? undefined : BODY)
  }
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('not found\n')
}

module.exports = { BODY, CACHEABLE_HEADERS, priceOf }

if (require.main === module) {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, handle)
  server.listen(Number(process.argv[2]), '127.0.0.1')
  process.once('SIGTERM', () => server.close(() => process.exit(0)) && server.closeAllConnections())
}
