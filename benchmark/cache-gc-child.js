'use strict'

// One side of the cache-gc suite, in its own process so that heaps do not mix:
//   node --expose-gc cache-gc-child.js <implementation> <entries> <durationMs>
// fills a cache with `entries` values of ~1 KiB (each serializes to VALUE_BYTES of msgpack),
// then offers random gets with 10 % sets at a fixed rate (RATE a second) for `durationMs`,
// measuring event-loop delay, GC pauses, heapUsed and RSS. Prints one JSON line.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const { monitorEventLoopDelay, performance, PerformanceObserver, constants } = require('node:perf_hooks')
const { Packr } = require('msgpackr')
const { LRUCache } = require('lru-cache')
const { mulberry32, textCorpus } = require('./inputs')

const SEED = 20261127
const VALUE_BYTES = 1024
const SET_SHARE = 0.1
// Operations per second offered to either side: well below what both sustain on this VM.
const RATE = Number(process.env.CACHE_GC_RATE ?? 50_000)
const WARMUP_MS = 2000
const SERIALIZER = new Packr({ useRecords: false, moreTypes: true })

const keyOf = (i) => `key:${String(i).padStart(12, '0')}`

/**
 * The JSON text of value i, as a service would receive it from a database or an API: parsed
 * with JSON.parse, every string of it is a fresh flat string on the heap.
 */
function valueSource() {
  const corpus = textCorpus(SEED, 1 << 20)
    .toString('latin1')
    .replace(/["\\\n\r\t]/g, ' ')
  const json = (i, bioLength) => {
    const at = (i * 7919) % (corpus.length - bioLength)
    return (
      `{"id":${1_000_000 + i},"name":"user ${i}","email":"user${i}@example.com","plan":"pro","active":true,` +
      `"createdAt":"2024-03-01T12:00:00Z","tags":["t${i % 97}","u${i % 89}","v${i % 83}"],` +
      `"address":{"street":"${i} Main Street","city":"Springfield","zip":"${10000 + (i % 89999)}","country":"US"},` +
      `"scores":[${i % 7},${i % 11},${i % 13},${i % 17}],"bio":"${corpus.slice(at, at + bioLength)}"}`
    )
  }
  // The bio's length that makes value 0 serialize to VALUE_BYTES (a str16 header is 3 bytes).
  const base = SERIALIZER.pack(JSON.parse(json(0, 0))).length
  const bioLength = VALUE_BYTES - base - 3 + 1
  return (i) => JSON.parse(json(i, bioLength))
}

/** The two sides: each has get(key) → value | undefined and set(key, value) (maybe async). */
async function openCache(implementation, entries) {
  if (implementation === 'lru-cache') {
    const cache = new LRUCache({ max: entries })
    return { get: (key) => cache.get(key), set: (key, value) => cache.set(key, value), size: () => cache.size }
  }
  if (implementation === 'optlayer-l2') {
    const { DistributedCache } = require('..')
    // Room for every entry (a 16-character key costs 32 bytes, the record 9 + VALUE_BYTES, 96 of overhead),
    // with slack: each shard gets an equal part of the budget, and keys do not spread exactly evenly.
    const cost = 32 + 9 + VALUE_BYTES + 96
    const cache = new DistributedCache({
      l1: false,
      l2: { maxBytes: Math.ceil(entries * cost * 1.25), estimatedEntryBytes: cost },
      defaultTtlMs: 0,
    })
    return {
      get: (key) => cache.getSync(key),
      set: (key, value) => cache.set(key, value),
      size: () => cache.stats().l2.entries,
      close: () => cache.close(),
    }
  }
  throw new Error(`unknown implementation ${implementation}`)
}

function memory() {
  const usage = process.memoryUsage()
  return { rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external }
}

function peakRss() {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) * 1024
}

const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}

/**
 * Random gets (10 % sets of fresh values) arriving at a fixed rate for `durationMs`, so both
 * sides do the same work in the same time: every tick runs the operations due by now (a late
 * tick catches up), then yields (setImmediate while behind, else a 1 ms timer).
 */
async function load(cache, entries, makeValue, durationMs, random) {
  let operations = 0
  let gets = 0
  let hits = 0
  let checksum = 0
  let maxBacklog = 0
  const started = performance.now()
  const total = Math.round((RATE * durationMs) / 1000)
  await new Promise((resolve, reject) => {
    const tick = () => {
      try {
        const due = Math.min(total, Math.round(((performance.now() - started) * RATE) / 1000))
        maxBacklog = Math.max(maxBacklog, due - operations)
        for (; operations < due; operations++) {
          const i = Math.floor(random() * entries)
          if (random() < SET_SHARE) {
            // Not awaited: the local tiers are written at once; the promise only waits for L3.
            cache.set(keyOf(i), makeValue(i))
          } else {
            gets++
            const value = cache.get(keyOf(i))
            if (value !== undefined) {
              hits++
              checksum += value.id
            }
          }
        }
        if (operations >= total) resolve()
        else if (performance.now() - started < ((operations + 1) * 1000) / RATE) setTimeout(tick, 1)
        else setImmediate(tick)
      } catch (err) {
        reject(err)
      }
    }
    setImmediate(tick)
  })
  return { operations, gets, hits, checksum, maxBacklog }
}

async function main() {
  const [implementation, entriesText, durationText] = process.argv.slice(2)
  const entries = Number(entriesText)
  const durationMs = Number(durationText)
  assert.ok(global.gc, 'run with --expose-gc')
  const makeValue = valueSource()
  assert.equal(SERIALIZER.pack(makeValue(0)).length, VALUE_BYTES)
  gc()
  const before = memory()
  const cache = await openCache(implementation, entries)
  const fillStarted = performance.now()
  for (let i = 0; i < entries; i++) await cache.set(keyOf(i), makeValue(i))
  const fillMs = performance.now() - fillStarted
  assert.equal(cache.size(), entries, `${implementation} holds ${cache.size()} of ${entries} entries`)
  gc()
  // A full, non-concurrent mark-compact of the heap as filled: the work every major GC of a
  // long-running process repeats (there on V8's helper threads as well as the main one).
  const fullGcStarted = performance.now()
  gc()
  const fullGcMs = performance.now() - fullGcStarted
  const filled = memory()

  const random = mulberry32(SEED)
  await load(cache, entries, makeValue, WARMUP_MS, random)

  const gcByKind = {}
  let gcPauseMs = 0
  let gcCount = 0
  let gcMaxMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcPauseMs += entry.duration
      gcCount++
      gcMaxMs = Math.max(gcMaxMs, entry.duration)
      const kind = GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind)
      gcByKind[kind] = (gcByKind[kind] ?? 0) + entry.duration
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const counts = await load(cache, entries, makeValue, durationMs, random)
  const elapsedMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  histogram.disable()
  // Let the observer deliver the last entries.
  await new Promise((resolve) => setTimeout(resolve, 50))
  observer.disconnect()
  const underLoad = memory()
  assert.ok(counts.hits === counts.gets, `${implementation}: ${counts.gets - counts.hits} gets missed`)
  const ms = (ns) => ns / 1e6
  const result = {
    implementation,
    entries,
    valueBytes: VALUE_BYTES,
    setShare: SET_SHARE,
    offeredRate: RATE,
    maxBacklog: counts.maxBacklog,
    fillMs,
    fullGcMs,
    durationMs: elapsedMs,
    operations: counts.operations,
    operationsPerSecond: counts.operations / (elapsedMs / 1000),
    cpuMicrosPerOperation: (cpu.user + cpu.system) / counts.operations,
    gets: counts.gets,
    hits: counts.hits,
    eventLoopDelay: {
      p50Ms: ms(histogram.percentile(50)),
      p99Ms: ms(histogram.percentile(99)),
      maxMs: ms(histogram.max),
      meanMs: ms(histogram.mean),
    },
    gc: { pauseMs: gcPauseMs, count: gcCount, maxPauseMs: gcMaxMs, pauseMsByKind: gcByKind },
    memory: { before, filled, underLoad, peakRss: peakRss() },
  }
  await cache.close?.()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
