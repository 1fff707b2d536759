'use strict'

// A worker thread of the native-safety scenario: calls into the addon without pause (codecs sync and async, the L2
// store every thread shares by name, a local rate limiter) until the scenario terminates it mid-call.
const { parentPort } = require('node:worker_threads')
const { Compressor, DistributedCache, RateLimiter } = require('optlayer')

const input = Buffer.from(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, name: `item ${i}` }))))
const cache = new DistributedCache({ name: 'chaos-threads', l1: false, l2: { name: 'chaos-threads' } })
const limiter = new RateLimiter({ algorithm: 'token-bucket', limit: 1e9, windowMs: 1000 })
const algorithms = ['gzip', 'zstd', 'br', 'lz4', 'snappy']

async function run() {
  parentPort.postMessage('running')
  for (let n = 0; ; n++) {
    const algorithm = algorithms[n % algorithms.length]
    const packed = Compressor.compress(input, algorithm)
    Compressor.decompress(packed, algorithm)
    const pending = Compressor.compressAsync(input, algorithm)
    cache.set(`k${n % 500}`, packed)
    cache.getSync(`k${(n * 7) % 500}`)
    limiter.allowSync(`u${n % 100}`)
    await pending
  }
}

run()
