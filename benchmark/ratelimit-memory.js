'use strict'

// Child process of the ratelimit suite's memory measurement: inserts N distinct keys into one
// limiter in a fresh heap and prints, as one JSON line, the process memory before and after
// (each after gc()), the peak RSS and the insertion time.
//
//   node --expose-gc benchmark/ratelimit-memory.js <optlayer|js-map|key-strings> <keys>
//
// Keys are made from a counter as they are inserted ("key:<i>", as the rest of the suite
// spells them), so the child itself keeps none: the native store keeps a hash of each, the
// Map keeps the strings (their share is what `key-strings` measures: the same strings held
// in an array).

const fs = require('node:fs')
const { performance } = require('node:perf_hooks')
const { RateLimiter } = require('optlayer')
const { JsTokenBucket, keyOf } = require('./ratelimit-common')

// A refill of one token per 864 s: no key gets back to full (and evictable) during the run.
const QUOTA = { limit: 100, windowMs: 86_400_000 }

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

function settle() {
  for (let i = 0; i < 3; i++) globalThis.gc()
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
  return { rss, heapUsed, heapTotal, external, arrayBuffers }
}

/** Peak resident set of this process so far (VmHWM), in bytes. */
function peakRss() {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return Number(match[1]) * 1024
}

function main([implementation, count]) {
  const keys = Number(count)
  if (!Number.isSafeInteger(keys) || keys < 1) throw new Error(`invalid key count ${count}`)
  const before = settle()
  let holder
  let tracked
  const started = performance.now()
  switch (implementation) {
    case 'optlayer': {
      const limiter = new RateLimiter({ algorithm: 'token-bucket', ...QUOTA, maxKeys: keys })
      for (let i = 0; i < keys; i++) {
        if (!limiter.allowSync(keyOf(i), 1).allowed) throw new Error(`key ${i} denied`)
      }
      tracked = limiter.stats().local.keys
      holder = limiter
      break
    }
    case 'js-map': {
      const limiter = new JsTokenBucket(QUOTA)
      for (let i = 0; i < keys; i++) {
        if (!limiter.allow(keyOf(i), 1).allowed) throw new Error(`key ${i} denied`)
      }
      tracked = limiter.buckets.size
      holder = limiter
      break
    }
    case 'key-strings': {
      const strings = new Array(keys)
      for (let i = 0; i < keys; i++) strings[i] = keyOf(i)
      tracked = strings.length
      holder = strings
      break
    }
    default:
      throw new Error(`unknown implementation ${implementation}`)
  }
  const insertNs = (performance.now() - started) * 1e6
  if (tracked !== keys) throw new Error(`${implementation} tracks ${tracked} keys, expected ${keys}`)
  const after = settle()
  const peakRssBytes = peakRss()
  // Keeps the limiter alive until after the reading.
  if (holder === undefined) throw new Error('unreachable')
  console.log(JSON.stringify({ implementation, keys, trackedKeys: tracked, before, after, peakRssBytes, insertNs }))
}

main(process.argv.slice(2))
