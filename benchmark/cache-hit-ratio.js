'use strict'

// cache-hit-ratio suite: hit ratio of the cache's L2 policy (the native
// store, quick_cache's CLOCK-Pro / S3-FIFO variant) against lru-cache at equal capacity on
// seeded traces, with Belady's optimal hit ratio (computed offline on the trace) as the
// ceiling. Capacity is 1 % of the key space (and 10 % for the Zipf traces, as information);
// the store gets that many entries' worth of bytes (maxBytes = entries × cost of one entry),
// lru-cache that many entries. Every miss inserts the key, as a read-through cache does.

const { LRUCache } = require('lru-cache')
const { NativeCache } = require('../index.js')
const { mulberry32 } = require('./inputs')
const { runIfMain, writeResults, printFigures, printSuiteTime } = require('./harness')
const { buildInfo, spread } = require('./cache-common')

const SEED = 20261127
const KEYS = 1_000_000
const REQUESTS = 2_000_000
const QUICK_KEYS = 200_000
const QUICK_REQUESTS = 400_000
const SCAN_EVERY = 20_000
const SCAN_LENGTH = 10_000
// Values of 16 bytes, keys of 16 ASCII characters ("key:" and 12 digits): the store charges
// 2 bytes a key character (UTF-16), the value and 96 bytes of overhead.
const VALUE_BYTES = 16
const KEY_CHARS = 16
const ENTRY_COST = 2 * KEY_CHARS + VALUE_BYTES + 96
const SHARDS = 64

// ---------------------------------------------------------------------------------------
// Traces: arrays of key ids (Int32Array); the key of id i is keyOf(i).

/** Uniform floats in [0, 1) with 53 random bits, from two mulberry32 draws. */
function random53(seed) {
  const next = mulberry32(seed)
  return () => (Math.floor(next() * 2 ** 21) * 2 ** 32 + Math.floor(next() * 2 ** 32)) / 2 ** 53
}

/** Zipf(s) over ranks 0..n-1 (rank 0 the most popular), sampled by inverting the CDF. */
function zipfSampler(n, s, random) {
  const cdf = new Float64Array(n)
  let total = 0
  for (let rank = 1; rank <= n; rank++) {
    total += 1 / rank ** s
    cdf[rank - 1] = total
  }
  for (let i = 0; i < n; i++) cdf[i] /= total
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function zipfTrace(n, s, length, seed) {
  const sample = zipfSampler(n, s, random53(seed))
  const trace = new Int32Array(length)
  for (let i = 0; i < length; i++) trace[i] = sample()
  return trace
}

/** Zipf(s) over n keys, interrupted every `every` requests by a scan of `scanLength` never-seen keys (ids from n up). */
function zipfWithScansTrace(n, s, length, every, scanLength, seed) {
  const sample = zipfSampler(n, s, random53(seed))
  const trace = new Int32Array(length)
  let nextScanKey = n
  let sinceScan = 0
  let i = 0
  while (i < length) {
    if (sinceScan === every) {
      sinceScan = 0
      for (let j = 0; j < scanLength && i < length; j++) trace[i++] = nextScanKey++
      continue
    }
    trace[i++] = sample()
    sinceScan++
  }
  return trace
}

/** The ids 0..loopLength-1 requested in order, over and over. */
function loopTrace(loopLength, length) {
  const trace = new Int32Array(length)
  for (let i = 0; i < length; i++) trace[i] = i % loopLength
  return trace
}

/**
 * Recency-biased: requests fall uniformly in a window of `window` keys that slides forward by
 * one key every `step` requests, so recent keys are the likely ones and frequency says little.
 */
function slidingWindowTrace(window, step, length, seed) {
  const random = random53(seed)
  const trace = new Int32Array(length)
  for (let i = 0; i < length; i++) trace[i] = Math.floor(i / step) + Math.floor(random() * window)
  return trace
}

function maxId(trace) {
  let max = 0
  for (let i = 0; i < trace.length; i++) if (trace[i] > max) max = trace[i]
  return max
}

// ---------------------------------------------------------------------------------------
// Belady's optimum: evict the entry needed furthest in the future; a key never requested
// again is not admitted, nor one needed later than every cached entry.

/** A max-heap of (next use, id) pairs in two typed arrays. */
class NextUseHeap {
  constructor(capacity) {
    this.next = new Int32Array(capacity)
    this.id = new Int32Array(capacity)
    this.size = 0
  }

  push(next, id) {
    let i = this.size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.next[parent] >= next) break
      this.next[i] = this.next[parent]
      this.id[i] = this.id[parent]
      i = parent
    }
    this.next[i] = next
    this.id[i] = id
  }

  pop() {
    const last = --this.size
    const next = this.next[last]
    const id = this.id[last]
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= last) break
      if (child + 1 < last && this.next[child + 1] > this.next[child]) child++
      if (this.next[child] <= next) break
      this.next[i] = this.next[child]
      this.id[i] = this.id[child]
      i = child
    }
    this.next[i] = next
    this.id[i] = id
  }
}

function beladyHitRatio(trace, capacity) {
  const length = trace.length
  const never = length
  const ids = maxId(trace) + 1
  const nextUse = new Int32Array(length)
  const last = new Int32Array(ids).fill(never)
  for (let i = length - 1; i >= 0; i--) {
    nextUse[i] = last[trace[i]]
    last[trace[i]] = i
  }
  // Next use of each cached id, −1 when not cached; a heap pair is stale unless it matches.
  const cachedNext = new Int32Array(ids).fill(-1)
  const heap = new NextUseHeap(length + 1)
  let cached = 0
  let hits = 0
  for (let i = 0; i < length; i++) {
    const id = trace[i]
    const next = nextUse[i]
    if (cachedNext[id] >= 0) {
      hits++
      cachedNext[id] = next
      heap.push(next, id)
      continue
    }
    if (next === never) continue
    if (cached === capacity) {
      while (cachedNext[heap.id[0]] !== heap.next[0]) heap.pop()
      if (heap.next[0] <= next) continue
      cachedNext[heap.id[0]] = -1
      heap.pop()
      cached--
    }
    cachedNext[id] = next
    heap.push(next, id)
    cached++
  }
  return hits / length
}

// ---------------------------------------------------------------------------------------
// A reference model of W-TinyLFU (the policy of Caffeine and moka), written here to show what
// frequency-based admission reaches on the same traces: a window LRU of 1 % of the capacity
// in front of a segmented LRU (80 % protected), admitting a key evicted from the window over
// the main region's victim only when a 4-bit count-min sketch (halved every 10 × capacity
// accesses) has seen it more often. Information for the policy, not a contender.

const NONE = 0
const WINDOW = 1
const PROBATION = 2
const PROTECTED = 3

class FrequencySketch {
  constructor(capacity) {
    let width = 16
    while (width < capacity * 2) width *= 2
    this.mask = width - 1
    this.rows = [0, 1, 2, 3].map(() => new Uint8Array(width))
    this.seeds = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f]
    this.additions = 0
    this.resetAt = 10 * capacity
  }

  index(id, row) {
    let h = Math.imul(id ^ (id >>> 16), this.seeds[row])
    h ^= h >>> 15
    return h & this.mask
  }

  increment(id) {
    for (let row = 0; row < 4; row++) {
      const counters = this.rows[row]
      const i = this.index(id, row)
      if (counters[i] < 15) counters[i]++
    }
    if (++this.additions === this.resetAt) {
      this.additions = 0
      for (const counters of this.rows) for (let i = 0; i < counters.length; i++) counters[i] >>= 1
    }
  }

  frequency(id) {
    let min = 15
    for (let row = 0; row < 4; row++) min = Math.min(min, this.rows[row][this.index(id, row)])
    return min
  }
}

function tinyLfuHitRatio(trace, capacity) {
  const windowCapacity = Math.max(1, Math.round(capacity / 100))
  const mainCapacity = capacity - windowCapacity
  const protectedCapacity = Math.round(mainCapacity * 0.8)
  const segment = new Uint8Array(maxId(trace) + 1)
  // Maps iterate in insertion order: the first key is the least recently used.
  const window = new Map()
  const probation = new Map()
  const protectedKeys = new Map()
  const sketch = new FrequencySketch(capacity)
  const first = (map) => map.keys().next().value
  let hits = 0
  for (let i = 0; i < trace.length; i++) {
    const id = trace[i]
    sketch.increment(id)
    switch (segment[id]) {
      case WINDOW:
        hits++
        window.delete(id)
        window.set(id, true)
        continue
      case PROTECTED:
        hits++
        protectedKeys.delete(id)
        protectedKeys.set(id, true)
        continue
      case PROBATION:
        hits++
        probation.delete(id)
        protectedKeys.set(id, true)
        segment[id] = PROTECTED
        if (protectedKeys.size > protectedCapacity) {
          const demoted = first(protectedKeys)
          protectedKeys.delete(demoted)
          probation.set(demoted, true)
          segment[demoted] = PROBATION
        }
        continue
      default:
    }
    window.set(id, true)
    segment[id] = WINDOW
    if (window.size <= windowCapacity) continue
    const candidate = first(window)
    window.delete(candidate)
    if (probation.size + protectedKeys.size < mainCapacity) {
      probation.set(candidate, true)
      segment[candidate] = PROBATION
      continue
    }
    const victimMap = probation.size > 0 ? probation : protectedKeys
    const victim = first(victimMap)
    if (sketch.frequency(candidate) > sketch.frequency(victim)) {
      victimMap.delete(victim)
      segment[victim] = NONE
      probation.set(candidate, true)
      segment[candidate] = PROBATION
    } else {
      segment[candidate] = NONE
    }
  }
  return hits / trace.length
}

// ---------------------------------------------------------------------------------------
// The contenders, each filled on every miss.

/**
 * On a Zipf trace (ids are popularity ranks) the hit ratio of keeping exactly the `capacity`
 * most popular keys, after their first (compulsory) miss: the best any policy can do without
 * knowing the future when requests are independent draws, as in these traces.
 */
function staticTopHitRatio(trace, capacity) {
  const seen = new Uint8Array(capacity)
  let hits = 0
  for (let i = 0; i < trace.length; i++) {
    const id = trace[i]
    if (id >= capacity) continue
    if (seen[id]) hits++
    else seen[id] = 1
  }
  return hits / trace.length
}

function keyStrings(count) {
  const keys = new Array(count)
  for (let i = 0; i < count; i++) keys[i] = `key:${String(i).padStart(12, '0')}`
  return keys
}

function oursHitRatio(trace, keys, entries) {
  const store = new NativeCache({
    maxBytes: Math.max(1024, entries * ENTRY_COST),
    shards: SHARDS,
    maxKeyLength: 512,
    estimatedEntryBytes: ENTRY_COST,
  })
  const { get, set } = store.operations()
  store.valueView(VALUE_BYTES)
  const value = new Uint8Array(VALUE_BYTES).fill(7)
  let hits = 0
  for (let i = 0; i < trace.length; i++) {
    const key = keys[trace[i]]
    if (get(key) >= 0) hits++
    else set(key, value, 0)
  }
  const stats = store.stats()
  store.close()
  return { ratio: hits / trace.length, stats }
}

function lruHitRatio(trace, keys, entries) {
  const cache = new LRUCache({ max: entries })
  const value = new Uint8Array(VALUE_BYTES).fill(7)
  let hits = 0
  for (let i = 0; i < trace.length; i++) {
    const key = keys[trace[i]]
    if (cache.get(key) !== undefined) hits++
    else cache.set(key, value)
  }
  return hits / trace.length
}

function traces(quick) {
  const n = quick ? QUICK_KEYS : KEYS
  const length = quick ? QUICK_REQUESTS : REQUESTS
  const onePercent = n / 100
  const tenPercent = n / 10
  const window = onePercent * 2
  return [
    { name: 'zipf 0.8', make: () => zipfTrace(n, 0.8, length, SEED), capacities: [onePercent, tenPercent] },
    { name: 'zipf 1.0', make: () => zipfTrace(n, 1.0, length, SEED), capacities: [onePercent, tenPercent] },
    {
      name: `zipf 1.0 + scans (${SCAN_LENGTH / 1000}k new keys every ${SCAN_EVERY / 1000}k)`,
      key: 'zipf 1.0 + scans',
      make: () => zipfWithScansTrace(n, 1.0, length, SCAN_EVERY, quick ? SCAN_LENGTH / 5 : SCAN_LENGTH, SEED),
      capacities: [onePercent],
    },
    {
      name: `loop over ${(onePercent * 1.25).toLocaleString('en-US')} keys`,
      key: 'loop',
      make: () => loopTrace(onePercent * 1.25, length),
      keySpace: onePercent * 1.25,
      capacities: [onePercent],
    },
    {
      name: `sliding window (${window.toLocaleString('en-US')} keys, +1 every 20 requests)`,
      key: 'sliding window',
      make: () => slidingWindowTrace(window, 20, length, SEED),
      keySpace: window,
      capacities: [window / 2, (window * 3) / 4],
    },
  ]
}

/** The hit-ratio targets. */
function evaluate(rows) {
  const find = (key, capacityShare) => rows.find((r) => r.key === key && r.capacityShare === capacityShare)
  const figures = []
  const zipf = find('zipf 1.0', 0.01)
  figures.push({
    target: 'hit ratio >= LRU + 10 points, Zipf 1.0, 1 % capacity',
    subject: 'L2 store vs lru-cache',
    display:
      `${zipf.ours.median.toFixed(4)} vs ${zipf.lru.toFixed(4)}: ${signedPoints(zipf.pointsOverLru)} (Belady` +
      ` ${zipf.belady.toFixed(4)}; keeping the top ${zipf.capacity.toLocaleString('en-US')} keys:` +
      ` ${zipf.staticTopOracle.toFixed(4)}, ${signedPoints(100 * (zipf.staticTopOracle - zipf.lru))})`,
    met: zipf.pointsOverLru >= 10,
    value: zipf.pointsOverLru,
  })
  const scans = find('zipf 1.0 + scans', 0.01)
  figures.push({
    target: "closes >= 1/2 of LRU's gap to optimal, Zipf + scans",
    subject: 'L2 store vs lru-cache',
    display: `${(100 * scans.gapClosed).toFixed(0)} % closed (${scans.ours.median.toFixed(4)} vs ${scans.lru.toFixed(4)}, optimum ${scans.belady.toFixed(4)})`,
    met: scans.gapClosed >= 0.5,
    value: scans.gapClosed,
  })
  for (const row of rows.filter((r) => r.key === 'sliding window')) {
    figures.push({
      target: 'never worse than 0.95× LRU, recency-biased trace',
      subject: `sliding window, ${row.capacity.toLocaleString('en-US')} entries`,
      display: `${row.vsLru.toFixed(3)}× LRU (${row.ours.median.toFixed(4)} vs ${row.lru.toFixed(4)})`,
      met: row.vsLru >= 0.95,
      value: row.vsLru,
    })
  }
  return figures
}

const signedPoints = (points) => `${points >= 0 ? '+' : ''}${points.toFixed(1)} points`

function readmeTable(rows) {
  return {
    headers: [
      'trace',
      'capacity',
      'L2 store',
      'lru-cache',
      'Belady',
      'top keys kept',
      'vs LRU',
      "LRU's gap closed",
      'W-TinyLFU model',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: rows.map((r) => [
      r.name,
      `${r.capacity.toLocaleString('en-US')} (${(100 * r.capacityShare).toFixed(0)} %)`,
      r.ours.median.toFixed(4),
      r.lru.toFixed(4),
      r.belady.toFixed(4),
      r.staticTopOracle === null ? '-' : r.staticTopOracle.toFixed(4),
      signedPoints(r.pointsOverLru),
      r.belady - r.lru > 1e-9 ? `${(100 * r.gapClosed).toFixed(0)} %` : '-',
      r.tinyLfuModel.toFixed(4),
    ]),
  }
}

const NOTES = [
  'Every contender is filled on every miss (read-through). The L2 store is the native store under the cache' +
    ' (NativeCache, quick_cache CLOCK-Pro / S3-FIFO admission with ghosts), given maxBytes = entries × ' +
    `${ENTRY_COST} B (a ${KEY_CHARS}-character key costs ${2 * KEY_CHARS} B, a ${VALUE_BYTES} B value, 96 B of` +
    ` overhead) and estimatedEntryBytes ${ENTRY_COST}, ${SHARDS} shards requested (the store uses one shard a MiB` +
    ' of budget). lru-cache gets max = entries. Belady is computed offline on the same trace with the same' +
    ' entry capacity.',
  'The store seeds its hash at random per instance, so its ratio can differ slightly from run to run: the table' +
    ' shows the median of the rounds, the JSON every round. lru-cache and Belady are deterministic.',
  'W-TinyLFU model: the reference simulation in this file (window LRU 1 %, segmented LRU 80 % protected,' +
    ' 4-bit count-min sketch halved every 10 × capacity accesses, admission when the candidate is seen more' +
    ' often than the victim), to show what frequency-based admission reaches on the same traces; not a library.',
  'Keeping the top keys: on a Zipf trace, the hit ratio of holding exactly the capacity most popular keys after' +
    ' their first miss, the best any policy can do without knowing the future on independent draws (Belady' +
    ' knows the future). On Zipf 1.0 at 1 % it is below LRU + 10 points: that target is out of reach of every' +
    ' online policy on this trace.',
  "gap closed = (ours − LRU) / (Belady − LRU). Traces are seeded (mulberry32); the key space is the Zipf traces'" +
    ' key count; the scans use keys never requested before; the loop is 1.25× the capacity long (LRU then never' +
    ' hits); the sliding window is a uniform window that moves forward one key every 20 requests (recency only).',
]

async function run(options) {
  const started = Date.now()
  const rounds = options.quick ? 1 : Math.min(options.rounds, 3)
  const n = options.quick ? QUICK_KEYS : KEYS
  const length = options.quick ? QUICK_REQUESTS : REQUESTS
  console.log(
    `cache-hit-ratio suite${options.quick ? ' (quick)' : ''}: ${length.toLocaleString('en-US')} requests per trace,` +
      ` ${n.toLocaleString('en-US')} keys; the store ${rounds} round(s)`,
  )
  const build = buildInfo()
  const rows = []
  for (const spec of traces(options.quick)) {
    const trace = spec.make()
    const keys = keyStrings(maxId(trace) + 1)
    for (const capacity of spec.capacities) {
      const roundsOurs = []
      let stats
      for (let round = 0; round < rounds; round++) {
        const result = oursHitRatio(trace, keys, capacity)
        roundsOurs.push(result.ratio)
        stats = result.stats
      }
      const lru = lruHitRatio(trace, keys, capacity)
      const belady = beladyHitRatio(trace, capacity)
      const tinyLfu = tinyLfuHitRatio(trace, capacity)
      const staticTop = (spec.key ?? spec.name).startsWith('zipf') ? staticTopHitRatio(trace, capacity) : null
      const ours = spread(roundsOurs)
      const row = {
        name: spec.name,
        key: spec.key ?? spec.name,
        capacity,
        // Share of the trace's key space: Zipf ids, the loop's keys, the window's keys.
        capacityShare: capacity / (spec.keySpace ?? n),
        ours: { ...ours, rounds: roundsOurs },
        lru,
        belady,
        tinyLfuModel: tinyLfu,
        staticTopOracle: staticTop,
        pointsOverLru: 100 * (ours.median - lru),
        vsLru: lru > 0 ? ours.median / lru : Infinity,
        gapClosed: belady - lru > 1e-9 ? (ours.median - lru) / (belady - lru) : null,
        storeStats: stats,
      }
      rows.push(row)
      console.log(
        `${row.name.padEnd(52)} ${String(capacity).padStart(7)}  ours ${ours.median.toFixed(4)}` +
          ` (${ours.min.toFixed(4)}-${ours.max.toFixed(4)})  lru ${lru.toFixed(4)}  belady ${belady.toFixed(4)}` +
          `  ${signedPoints(row.pointsOverLru)}  w-tinylfu model ${tinyLfu.toFixed(4)}` +
          (row.gapClosed === null ? '' : `  gap closed ${(100 * row.gapClosed).toFixed(0)} %`),
      )
    }
  }
  const figures = evaluate(rows)
  printFigures(
    '',
    'subject',
    figures.map((f) => [f.target, f.subject, f.display, f.met]),
    3,
  )
  const elapsedSeconds = printSuiteTime(started)
  const file = writeResults('cache-hit-ratio', {
    packages: ['lru-cache'],
    parameters: {
      ...options,
      rounds,
      seed: SEED,
      keys: n,
      requests: length,
      scanEvery: SCAN_EVERY,
      scanLength: options.quick ? SCAN_LENGTH / 5 : SCAN_LENGTH,
      valueBytes: VALUE_BYTES,
      keyChars: KEY_CHARS,
      entryCost: ENTRY_COST,
      shards: SHARDS,
      build,
      elapsedSeconds,
    },
    traces: rows,
    figures,
    readmeTable: combinedTable(rows, figures),
    notes: NOTES,
  })
  console.log(`wrote ${file}`)
}

/** The hit-ratio rows, then the targets, in one README table. */
function combinedTable(rows, figures) {
  const table = readmeTable(rows)
  for (const f of figures) {
    table.rows.push([`target: ${f.target}`, f.subject, '', '', '', '', f.display, f.met ? 'met' : '**missed**', ''])
  }
  return table
}

module.exports = {
  run,
  staticTopHitRatio,
  zipfTrace,
  zipfWithScansTrace,
  loopTrace,
  slidingWindowTrace,
  beladyHitRatio,
  keyStrings,
}

runIfMain(module, run)
