'use strict'

// The gateway through the package's serveGateway(), for trees whose `optlayer serve` does not
// read BACKENDS yet: the same listeners and configuration from the environment (PORT, HOST,
// ADMIN_PORT, WORKERS, RATE_LIMIT_*), the gateway in front of the comma-separated BACKENDS,
// and /process answered by an OptimizationLayer with a trivial processor (a price from an
// item number), its default result cache and no rate limit of its own.
// The load test uses it only when `optlayer serve` does not answer through the gateway, and
// says so in its results.

const cluster = require('node:cluster')
const { configFromEnv, serveGateway, OptimizationLayer } = require('optlayer')

const price = (data) => ({ item: data.item, price: Number(data.item) * 3 })

async function main() {
  const config = configFromEnv()
  if (config.workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < config.workers; i++) cluster.fork()
    process.once('SIGTERM', () => {
      for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM')
      process.exit(0)
    })
    return
  }
  const backends = (process.env.BACKENDS ?? '').split(',').filter(Boolean)
  if (backends.length === 0) throw new Error('BACKENDS must name at least one backend origin')
  const layer = new OptimizationLayer({ processor: async (data) => price(data), rateLimit: false })
  await layer.start()
  const served = await serveGateway({
    ...config,
    gateway: { backends: backends.map((url) => ({ url })) },
    process: layer.handler(),
  })
  process.once('SIGTERM', () => {
    Promise.all([served.close({ timeoutMs: 1000 }), layer.stop({ timeoutMs: 1000 })]).then(() => process.exit(0))
  })
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
