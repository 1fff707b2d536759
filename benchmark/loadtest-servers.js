'use strict'

// The Node servers the load test sets beside optlayer's gateway, one per process:
//   node benchmark/loadtest-servers.js <kind> <port> [backend origin]
// kinds:
//   bare          node:http answering every request with the backend's cacheable body and
//                 headers, from memory: the ceiling of the runtime on this machine
//   bare-cluster  the same in 2 node:cluster workers sharing the port
//   fastify       fastify with @fastify/http-proxy to the backend, @fastify/rate-limit (a limit
//                 never reached, so its bookkeeping is paid but nobody is refused) and
//                 @fastify/compress (clients that ask for no coding get none)
//   undici        a minimal proxy: node:http forwarding through an undici Pool with stream()

const cluster = require('node:cluster')
const http = require('node:http')
const { BODY, CACHEABLE_HEADERS } = require('./loadtest-backend')

const HOST = '127.0.0.1'
const CLUSTER_WORKERS = 2
// As many upstream connections as wrk opens, so that no proxy queues for a connection.
const UPSTREAM_CONNECTIONS = 64
// Headers that describe one connection, not the message (RFC 9110 section 7.6.1).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

function bare(port) {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    res.writeHead(200, CACHEABLE_HEADERS)
    res.end(BODY)
  })
  server.listen(port, HOST)
  return server
}

function bareCluster(port) {
  if (cluster.isPrimary) {
    for (let i = 0; i < CLUSTER_WORKERS; i++) cluster.fork()
    process.once('SIGTERM', () => {
      for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM')
      process.exit(0)
    })
    return undefined
  }
  return bare(port)
}

async function fastifyProxy(port, backend) {
  const fastify = require('fastify')({ logger: false })
  await fastify.register(require('@fastify/rate-limit'), { max: 1_000_000_000, timeWindow: 60_000 })
  await fastify.register(require('@fastify/compress'), { global: true })
  await fastify.register(require('@fastify/http-proxy'), {
    upstream: backend,
    undici: { connections: UPSTREAM_CONNECTIONS, pipelining: 1 },
  })
  await fastify.listen({ port, host: HOST })
  return fastify.server
}

function undiciProxy(port, backend) {
  const { Pool } = require('undici')
  const pool = new Pool(backend, { connections: UPSTREAM_CONNECTIONS })
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const headers = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && name !== 'host') headers[name] = value
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    pool
      .stream(
        { path: req.url, method: req.method, headers, body: hasBody ? req : undefined },
        ({ statusCode, headers }) => {
          const forwarded = {}
          for (const [name, value] of Object.entries(headers)) {
            if (!HOP_BY_HOP.has(name)) forwarded[name] = value
          }
          res.writeHead(statusCode, forwarded)
          return res
        },
      )
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain' })
          res.end('bad gateway\n')
        } else res.destroy()
      })
  })
  server.listen(port, HOST)
  process.once('SIGTERM', () => void pool.close())
  return server
}

async function main([kind, portText, backend]) {
  const port = Number(portText)
  const start = { bare, 'bare-cluster': bareCluster, fastify: fastifyProxy, undici: undiciProxy }[kind]
  if (start === undefined || !(port > 0)) throw new Error(`usage: loadtest-servers.js <kind> <port> [backend origin]`)
  const server = await start(port, backend)
  if (server !== undefined) {
    process.once('SIGTERM', () => {
      server.close(() => process.exit(0))
      server.closeAllConnections()
    })
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err)
  process.exitCode = 1
})
