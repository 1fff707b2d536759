'use strict'

// codecs suite: optlayer's Compressor against the peers named in the codecs issue, per
// algorithm and level, on JSON and English-like text at 1 KiB, 64 KiB and 4 MiB:
// node:zlib (gzip, deflate, brotli), `snappy`, `lz4-napi`, `zstd-napi` (the fastest zstd
// binding, synchronous) and `@mongodb-js/zstd` (async), and the pure-JS implementations a
// user picks to avoid native code: fflate (gzip, zlib), snappyjs, lz4js, and for decoding
// only fzstd (zstd) and brotli.js (brotli). Every output is checked before
// anything is timed: each contender round-trips, and where formats match optlayer decodes
// the peer's output and the peer decodes optlayer's.

const assert = require('node:assert/strict')
const zlib = require('node:zlib')
const { promisify } = require('node:util')
const { setImmediate: nextTurn, setTimeout: sleep } = require('node:timers/promises')
const snappy = require('snappy')
const lz4 = require('lz4-napi')
const zstdNapi = require('zstd-napi')
const zstdBinding = require('zstd-napi/binding')
const mongoZstd = require('@mongodb-js/zstd')
const fflate = require('fflate')
const snappyjs = require('snappyjs')
const lz4js = require('lz4js')
const fzstd = require('fzstd')
const { decompress: brotliJs } = require('brotli/decompress')
const { Compressor } = require('optlayer')
const { jsonPayload, textCorpus } = require('./inputs')
const {
  BASELINE_ROLE,
  cpuCount,
  runIfMain,
  runCase,
  printCase,
  printTable,
  formatNumber,
  measureEventLoopDelay,
  median,
  writeResults,
  printSuiteTime,
} = require('./harness')

const JSON_SEED = 20240601
const TEXT_SEED = 20240602
const KIB = 1024
const MIB = 1024 * KIB
const SIZES = [KIB, 64 * KIB, 4 * MIB]
// Up to this size the caller-owned-buffer paths (compressInto/decompressInto) are measured
// too: they are what the 1 KiB budget is about.
const INTO_MAX_BYTES = KIB
// The per-op budgets and targets: measured and reported, never asserted.
const BUDGET_1KIB_NS = 1500
const BROTLI_WINDOW = 22
const EVENT_LOOP_BYTES = 4 * MIB
const EVENT_LOOP_ALGORITHM = 'gzip'
const EVENT_LOOP_LEVEL = 6
const MANY_IN_FLIGHT = 8

const COMPRESS_DETAILS = { outputBytes: 'out B', sizeRatio: 'out/in', sizeVsReference: 'size x ref' }
const DECOMPRESS_DETAILS = { inputBytes: 'in B' }

const gzipAsync = promisify(zlib.gzip)

/** node:zlib brotli options with optlayer's parameters. */
function brotliParams(quality, input) {
  return {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
      [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW,
      // optlayer's one-shot encoder tells brotli the input size; node:zlib gets the same hint.
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: input.length,
    },
  }
}

function zstdNapiCompressor(level) {
  const compressor = new zstdNapi.Compressor()
  // optlayer writes checksummed frames, as zstd(1) does; zstd-napi does the same work with checksumFlag.
  compressor.setParameters({ compressionLevel: level, checksumFlag: true })
  return compressor
}

function zstdCodec(level) {
  return {
    label: `zstd ${level}`,
    algorithm: 'zstd',
    options: { level },
    sizes: SIZES,
    peers: (input) => {
      const compressor = zstdNapiCompressor(level)
      return [
        {
          name: 'zstd-napi',
          role: 'peer',
          fn: () => compressor.compress(input),
          decode: (frame) => zstdNapi.decompress(frame),
        },
        {
          name: 'zstd-napi compress(), no checksum',
          role: 'peer, less work',
          fn: () => zstdNapi.compress(input, { compressionLevel: level }),
          decode: (frame) => zstdNapi.decompress(frame),
        },
      ]
    },
    intoPeers: (input) => {
      const cctx = new zstdBinding.CCtx()
      cctx.setParameter(zstdBinding.CParameter.compressionLevel, level)
      cctx.setParameter(zstdBinding.CParameter.checksumFlag, 1)
      const output = Buffer.allocUnsafe(zstdBinding.compressBound(input.length))
      return [
        {
          name: 'zstd-napi binding compress2 (reused output)',
          role: 'peer',
          fn: () => cctx.compress2(output, input),
          output: () => output.subarray(0, cctx.compress2(output, input)),
        },
      ]
    },
    decompressPeers: () => {
      const decompressor = new zstdNapi.Decompressor()
      return [{ name: 'zstd-napi', role: 'peer', fn: (frame) => decompressor.decompress(frame) }]
    },
    // fzstd only decodes.
    decompressBaselines: () => [{ name: 'fzstd', role: BASELINE_ROLE, fn: (frame) => fzstd.decompress(frame) }],
    decompressIntoPeers: (frame, length) => {
      const dctx = new zstdBinding.DCtx()
      const output = Buffer.allocUnsafe(length)
      return [
        {
          name: 'zstd-napi binding decompress (reused output)',
          role: 'peer',
          fn: () => dctx.decompress(output, frame),
          output: () => output.subarray(0, dctx.decompress(output, frame)),
        },
      ]
    },
    // @mongodb-js/zstd is async-only and ignores its level argument: it always runs level 3.
    asyncPeer:
      level === 3
        ? {
            name: '@mongodb-js/zstd',
            compress: (input) => mongoZstd.compress(input),
            decompress: (frame) => mongoZstd.decompress(frame),
          }
        : undefined,
  }
}

function deflateCodec(algorithm, level, sizes) {
  const [compress, decompress] =
    algorithm === 'gzip' ? [zlib.gzipSync, zlib.gunzipSync] : [zlib.deflateSync, zlib.inflateSync]
  const verb = algorithm === 'gzip' ? ['gzipSync', 'gunzipSync'] : ['deflateSync', 'inflateSync']
  // optlayer's 'deflate' is the zlib format, as node:zlib's deflateSync: fflate's zlibSync.
  const [pureCompress, pureDecompress, pureVerb] =
    algorithm === 'gzip'
      ? [fflate.gzipSync, fflate.gunzipSync, ['gzipSync', 'gunzipSync']]
      : [fflate.zlibSync, fflate.unzlibSync, ['zlibSync', 'unzlibSync']]
  return {
    label: `${algorithm} ${level}`,
    algorithm,
    options: { level },
    sizes,
    peers: (input) => [
      { name: `node:zlib ${verb[0]}`, role: 'peer', fn: () => compress(input, { level }), decode: decompress },
    ],
    baselines: (input) => [
      { name: `fflate ${pureVerb[0]}`, role: BASELINE_ROLE, fn: () => pureCompress(input, { level }) },
    ],
    decompressPeers: () => [{ name: `node:zlib ${verb[1]}`, role: 'peer', fn: (frame) => decompress(frame) }],
    decompressBaselines: () => [
      { name: `fflate ${pureVerb[1]}`, role: BASELINE_ROLE, fn: (frame) => pureDecompress(frame) },
    ],
  }
}

function brotliCodec(quality, sizes, quickSizes = sizes) {
  return {
    label: `br ${quality}`,
    algorithm: 'br',
    options: { level: quality, window: BROTLI_WINDOW },
    sizes,
    quickSizes,
    peers: (input) => [
      {
        name: 'node:zlib brotliCompressSync',
        role: 'peer',
        fn: () => zlib.brotliCompressSync(input, brotliParams(quality, input)),
        decode: zlib.brotliDecompressSync,
      },
    ],
    decompressPeers: () => [
      { name: 'node:zlib brotliDecompressSync', role: 'peer', fn: (frame) => zlib.brotliDecompressSync(frame) },
    ],
    // brotli.js's decoder is a JavaScript port; its encoder is compiled C, so not a pure-JS baseline.
    decompressBaselines: () => [{ name: 'brotli.js', role: BASELINE_ROLE, fn: (frame) => brotliJs(frame) }],
  }
}

/**
 * The cases: one algorithm at one level each, with the input sizes it runs at. `peers`
 * are the synchronous peers, the first being the reference of the case (it does the same
 * work as optlayer; others are listed for what their users get by default). `decode` is
 * the reference's decoder, used to cross-check optlayer's output; `decompressPeers`
 * decode the reference's output. zstd also has peers writing into reused buffers, and
 * an async-only peer at level 3.
 */
const CODECS = [
  deflateCodec('gzip', 6, SIZES),
  deflateCodec('gzip', 1, [64 * KIB]),
  deflateCodec('gzip', 9, [64 * KIB]),
  deflateCodec('deflate', 6, SIZES),
  brotliCodec(4, SIZES),
  // Quality 11 takes about 150 ms per 64 KiB here: the quick run keeps only 1 KiB.
  brotliCodec(11, [KIB, 64 * KIB], [KIB]),
  {
    label: 'snappy',
    algorithm: 'snappy',
    options: {},
    sizes: SIZES,
    peers: (input) => [
      { name: 'snappy', role: 'peer', fn: () => snappy.compressSync(input), decode: (b) => snappy.uncompressSync(b) },
    ],
    baselines: (input) => [{ name: 'snappyjs', role: BASELINE_ROLE, fn: () => snappyjs.compress(input) }],
    decompressPeers: () => [{ name: 'snappy', role: 'peer', fn: (frame) => snappy.uncompressSync(frame) }],
    decompressBaselines: () => [{ name: 'snappyjs', role: BASELINE_ROLE, fn: (frame) => snappyjs.uncompress(frame) }],
  },
  {
    label: 'lz4',
    algorithm: 'lz4',
    options: {},
    sizes: SIZES,
    peers: (input) => [
      {
        // optlayer's frames carry a content checksum (as lz4(1) writes them); lz4-napi's default frames do not.
        name: 'lz4-napi compressFrameSync',
        role: 'peer',
        fn: () => lz4.compressFrameSync(input, { contentChecksum: true }),
        decode: (frame) => lz4.decompressFrameSync(frame),
      },
      {
        name: 'lz4-napi compressFrameSync, no checksum',
        role: 'peer, less work',
        fn: () => lz4.compressFrameSync(input),
        decode: (frame) => lz4.decompressFrameSync(frame),
      },
    ],
    // lz4js writes frames too (with a content checksum).
    baselines: (input) => [{ name: 'lz4js', role: BASELINE_ROLE, fn: () => lz4js.compress(input) }],
    decompressPeers: () => [
      { name: 'lz4-napi decompressFrameSync', role: 'peer', fn: (frame) => lz4.decompressFrameSync(frame) },
    ],
    decompressBaselines: () => [{ name: 'lz4js', role: BASELINE_ROLE, fn: (frame) => lz4js.decompress(frame) }],
  },
  zstdCodec(1),
  zstdCodec(3),
]

function sizeLabel(bytes) {
  if (bytes >= MIB) return `${bytes / MIB} MiB`
  return bytes >= KIB ? `${bytes / KIB} KiB` : `${bytes} B`
}

function inputsFor(size, options) {
  const inputs = [{ kind: 'JSON', size, data: jsonPayload(JSON_SEED, size) }]
  if (!(options.quick && size >= MIB)) inputs.push({ kind: 'text', size, data: textCorpus(TEXT_SEED, size) })
  return inputs
}

/**
 * Measurement plan of one input size: 4 MiB operations take milliseconds each (and
 * Benchmark.js takes at least 3 samples), so their rounds are fewer; the default run stays
 * within a few minutes. The quick run measures 4 MiB in one round, on JSON only.
 */
function planFor(size, options) {
  const large = size >= MIB
  const rounds = large ? (options.quick ? 1 : Math.min(options.rounds, 3)) : options.rounds
  const maxTime = options.maxTime * (large ? 0.25 : 0.3)
  return { ...options, rounds, maxTime, warmupTime: maxTime / 2 }
}

function compressContenders(codec, input) {
  const { algorithm, options } = codec
  const contenders = [
    {
      name: 'optlayer',
      role: 'ours',
      fn: () => Compressor.compress(input, algorithm, options),
    },
  ]
  if (input.length <= INTO_MAX_BYTES) {
    const output = Buffer.allocUnsafe(Compressor.compressBound(algorithm, input.length))
    contenders.push({
      name: 'optlayer compressInto',
      role: 'ours',
      fn: () => Compressor.compressInto(input, output, algorithm, options),
      output: () => output.subarray(0, Compressor.compressInto(input, output, algorithm, options)),
    })
  }
  contenders.push(...codec.peers(input))
  if (input.length <= INTO_MAX_BYTES && codec.intoPeers) contenders.push(...codec.intoPeers(input))
  if (codec.baselines) contenders.push(...codec.baselines(input))
  return contenders
}

/**
 * Compresses once with every contender (copying the bytes of the reused-buffer paths),
 * checks that each output decodes to the input with optlayer and with the reference peer
 * (every contender writes the same format), and records sizes against the reference.
 */
function compressAndVerify(codec, input, contenders) {
  const reference = contenders.find((c) => c.role === 'peer')
  const outputs = new Map()
  for (const contender of contenders) {
    const out = Buffer.from(contender.output ? contender.output() : contender.fn())
    assert.ok(input.equals(Compressor.decompress(out, codec.algorithm)), `${contender.name}: optlayer cannot decode it`)
    assert.ok(input.equals(Buffer.from(reference.decode(out))), `${contender.name}: ${reference.name} cannot decode it`)
    outputs.set(contender.name, out)
  }
  const referenceOut = outputs.get(reference.name)
  for (const contender of contenders) {
    const out = outputs.get(contender.name)
    contender.details = {
      outputBytes: out.length,
      sizeRatio: out.length / input.length,
      sizeVsReference: out.length / referenceOut.length,
      sameBytesAsReference: out.equals(referenceOut),
    }
  }
  return { ours: outputs.get('optlayer'), reference: referenceOut, referenceName: reference.name }
}

/** Decoders of one frame (the reference peer's output, which every decoder reads). */
function decompressContenders(codec, input, frame) {
  const { algorithm } = codec
  const contenders = [{ name: 'optlayer', role: 'ours', fn: () => Compressor.decompress(frame, algorithm) }]
  if (input.length <= INTO_MAX_BYTES) {
    const output = Buffer.allocUnsafe(input.length)
    contenders.push({
      name: 'optlayer decompressInto',
      role: 'ours',
      fn: () => Compressor.decompressInto(frame, output, algorithm),
      output: () => output.subarray(0, Compressor.decompressInto(frame, output, algorithm)),
    })
  }
  for (const peer of [...codec.decompressPeers(), ...(codec.decompressBaselines?.() ?? [])]) {
    contenders.push({ ...peer, fn: () => peer.fn(frame) })
  }
  if (input.length <= INTO_MAX_BYTES && codec.decompressIntoPeers) {
    contenders.push(...codec.decompressIntoPeers(frame, input.length))
  }
  for (const contender of contenders) {
    const out = contender.output ? contender.output() : contender.fn()
    assert.ok(input.equals(Buffer.from(out)), `${contender.name} does not restore the input`)
    contender.details = { inputBytes: frame.length }
  }
  return contenders
}

/** optlayer async against an async-only peer, compressing and decompressing. */
async function asyncContenders(codec, input, frame) {
  const { algorithm, options, asyncPeer } = codec
  const compress = [
    {
      name: 'optlayer compressAsync',
      role: 'ours',
      async: true,
      fn: () => Compressor.compressAsync(input, algorithm, options),
    },
    { name: asyncPeer.name, role: 'peer, async', async: true, fn: () => asyncPeer.compress(input) },
  ]
  const decompress = [
    {
      name: 'optlayer decompressAsync',
      role: 'ours',
      async: true,
      fn: () => Compressor.decompressAsync(frame, algorithm),
    },
    { name: asyncPeer.name, role: 'peer, async', async: true, fn: () => asyncPeer.decompress(frame) },
  ]
  const outputs = []
  for (const contender of compress) {
    const out = await contender.fn()
    assert.ok(input.equals(Compressor.decompress(out, algorithm)), `${contender.name}: optlayer cannot decode it`)
    assert.ok(input.equals(await asyncPeer.decompress(out)), `${contender.name}: ${asyncPeer.name} cannot decode it`)
    outputs.push(out)
  }
  for (const [i, contender] of compress.entries()) {
    contender.details = {
      outputBytes: outputs[i].length,
      sizeRatio: outputs[i].length / input.length,
      sizeVsReference: outputs[i].length / outputs[1].length,
    }
  }
  for (const contender of decompress) {
    assert.ok(input.equals(await contender.fn()), `${contender.name} does not restore the input`)
    contender.details = { inputBytes: frame.length }
  }
  return { compress, decompress }
}

async function runWithConcurrency(operations, concurrency, task) {
  let started = 0
  const worker = async () => {
    while (started < operations) {
      started++
      await task()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/** Event-loop delay of `work`, with the peak RSS sampled every 5 ms while it runs. */
async function measureWithRss(work) {
  const before = process.memoryUsage.rss()
  let peak = before
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 5)
  try {
    const delay = await measureEventLoopDelay(work)
    peak = Math.max(peak, process.memoryUsage.rss())
    return { ...delay, rssBeforeBytes: before, rssPeakBytes: peak }
  } finally {
    clearInterval(timer)
  }
}

/**
 * Event-loop delay while compressing a 4 MiB payload many times: synchronously, one call
 * per turn (a server handling one request per turn), against compressAsync with as many in
 * flight as the concurrency cap (the core count) and with more (the rest wait in FIFO
 * order), and node:zlib's own async gzip, which runs on the libuv pool uncapped.
 */
async function measureEventLoop(input, options) {
  const operations = options.quick ? 4 : 16
  const rounds = Math.min(options.rounds, 3)
  const codecOptions = { level: EVENT_LOOP_LEVEL }
  const ours = () => Compressor.compressAsync(input, EVENT_LOOP_ALGORITHM, codecOptions)
  const inFlight = (count, compress) => ({
    operations,
    inFlight: count,
    work: () => runWithConcurrency(operations, count, compress),
  })
  const cap = Compressor.maxConcurrency
  const modes = [
    { name: 'idle (timer floor)', operations: 0, inFlight: 0, work: () => sleep(options.quick ? 50 : 200) },
    {
      name: 'optlayer compress (sync), 1 call per turn',
      operations,
      inFlight: 1,
      work: async () => {
        for (let i = 0; i < operations; i++) {
          Compressor.compress(input, EVENT_LOOP_ALGORITHM, codecOptions)
          await nextTurn()
        }
      },
    },
    { name: `optlayer compressAsync, ${cap} in flight`, ...inFlight(cap, ours) },
    { name: `optlayer compressAsync, ${MANY_IN_FLIGHT} in flight`, ...inFlight(MANY_IN_FLIGHT, ours) },
    {
      name: `node:zlib gzip (async), ${MANY_IN_FLIGHT} in flight`,
      ...inFlight(MANY_IN_FLIGHT, () => gzipAsync(input, codecOptions)),
    },
  ]
  // Warm-up: one call of each kind, so that no mode pays first-use costs.
  Compressor.compress(input, EVENT_LOOP_ALGORITHM, codecOptions)
  await ours()
  await gzipAsync(input, codecOptions)
  const samples = modes.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, mode] of modes.entries()) samples[i].push(await measureWithRss(mode.work))
  }
  return {
    algorithm: EVENT_LOOP_ALGORITHM,
    level: EVENT_LOOP_LEVEL,
    inputBytes: input.length,
    operations,
    maxConcurrency: cap,
    modes: modes.map((mode, i) => {
      const wallMs = median(samples[i].map((s) => s.wallMs))
      const p99 = samples[i].map((s) => s.p99Ms)
      return {
        name: mode.name,
        inFlight: mode.inFlight,
        p50Ms: median(samples[i].map((s) => s.p50Ms)),
        p99Ms: { median: median(p99), min: Math.min(...p99), max: Math.max(...p99) },
        maxMs: Math.max(...samples[i].map((s) => s.maxMs)),
        wallMs,
        mbPerSecond: mode.operations > 0 ? (mode.operations * input.length) / (wallMs * 1e3) : null,
        rssGrowthBytes: median(samples[i].map((s) => s.rssPeakBytes - s.rssBeforeBytes)),
        rounds: samples[i],
      }
    }),
  }
}

function printEventLoop(eventLoop) {
  console.log(
    `\nevent-loop delay, ${eventLoop.operations} ${eventLoop.algorithm} ${eventLoop.level} compressions of ` +
      `${formatNumber(eventLoop.inputBytes)} B, Compressor.maxConcurrency ${eventLoop.maxConcurrency} ` +
      '(medians over rounds; max over all rounds)',
  )
  printTable(
    ['mode', 'p50 ms', 'p99 ms', 'p99 min-max', 'max ms', 'wall ms', 'MB/s', 'RSS growth MB'],
    eventLoop.modes.map((m) => [
      m.name,
      formatNumber(m.p50Ms),
      formatNumber(m.p99Ms.median),
      `${formatNumber(m.p99Ms.min)}-${formatNumber(m.p99Ms.max)}`,
      formatNumber(m.maxMs),
      formatNumber(m.wallMs),
      formatNumber(m.mbPerSecond),
      formatNumber(m.rssGrowthBytes / 1e6),
    ]),
    1,
  )
}

// ---------------------------------------------------------------------------------------
// Figures to reach, evaluated from the cases; a miss is reported with its figure.

const TARGETS = [
  {
    name: 'gzip/deflate compress >= 2x node:zlib, size within 2%',
    applies: (c) => ['gzip', 'deflate'].includes(c.algorithm) && c.operation === 'compress',
    ratio: 2,
    maxSizeVsReference: 1.02,
  },
  {
    name: 'gzip/deflate decompress >= 1.5x node:zlib',
    applies: (c) => ['gzip', 'deflate'].includes(c.algorithm) && c.operation === 'decompress',
    ratio: 1.5,
  },
  { name: 'snappy >= 1.0x snappy (npm)', applies: (c) => c.algorithm === 'snappy', ratio: 1 },
  { name: 'lz4 >= 1.0x lz4-napi', applies: (c) => c.algorithm === 'lz4', ratio: 1 },
  { name: 'zstd >= 1.0x zstd-napi', applies: (c) => c.algorithm === 'zstd' && !c.async, ratio: 1 },
  { name: 'br >= 1.0x node:zlib', applies: (c) => c.algorithm === 'br', ratio: 1 },
]

function evaluateTargets(cases) {
  const rows = []
  for (const target of TARGETS) {
    for (const testCase of cases.filter(target.applies)) {
      const ours = testCase.contenders.find((c) => c.name === 'optlayer')
      const sizeOk = target.maxSizeVsReference ? ours.details.sizeVsReference <= target.maxSizeVsReference : true
      rows.push({
        target: target.name,
        case: testCase.name,
        contender: ours.name,
        ratio: ours.vsReference,
        sizeVsReference: testCase.operation === 'compress' ? ours.details.sizeVsReference : null,
        met: ours.vsReference.median >= target.ratio && sizeOk,
      })
    }
  }
  return rows
}

function printTargets(rows) {
  console.log('\nfigures to reach (optlayer allocating sync API vs the reference peer, median ratio of rounds)')
  printTable(
    ['target', 'case', 'x ref', 'min-max', 'size x ref', 'met'],
    rows.map((r) => [
      r.target,
      r.case,
      r.ratio.median.toPrecision(3),
      `${r.ratio.min.toPrecision(3)}-${r.ratio.max.toPrecision(3)}`,
      r.sizeVsReference === null ? '-' : r.sizeVsReference.toFixed(3),
      r.met ? 'yes' : 'MISSED',
    ]),
    2,
  )
  console.log('\nsummary:')
  for (const target of TARGETS) {
    const mine = rows.filter((r) => r.target === target.name)
    const worst = mine.reduce((a, b) => (b.ratio.median < a.ratio.median ? b : a), mine[0])
    console.log(
      `- ${target.name}: met in ${mine.filter((r) => r.met).length} of ${mine.length} cases` +
        (worst ? `; lowest ${worst.ratio.median.toFixed(2)}x (${worst.case})` : ''),
    )
  }
}

/** The 1 KiB budget: every contender of the snappy, lz4 and zstd-1 compression cases at 1 KiB. */
/** The contenders without the pure-JS baseline, and the baseline (undefined when the case has none). */
function apartFromBaseline(contenders) {
  return [contenders.filter((c) => c.role !== BASELINE_ROLE), contenders.find((c) => c.role === BASELINE_ROLE)]
}

/**
 * optlayer's allocating sync call against the case's pure-JS baseline, in rounds of their
 * own, run after every case's peers were measured: the peers' cases stay exactly as they
 * were without baselines, whatever garbage (large typed arrays per call) a pure-JS codec
 * leaves. Returns `{ pureJs: { baseline, vsBaseline } }` for the case's record, or nothing.
 */
async function againstBaseline(result, contenders, baseline, plan) {
  if (baseline === undefined) return {}
  const ours = contenders.find((c) => c.name === 'optlayer')
  const own = await runCase(
    {
      name: `${result.name}, against pure JS`,
      bytes: result.bytes,
      reference: baseline.name,
      contenders: [ours, baseline],
    },
    plan,
  )
  printCase(own, {})
  return { pureJs: { baseline: baseline.name, vsBaseline: own.contenders[0].vsReference } }
}

/** optlayer's allocating sync call against the pure-JS baseline of each case that has one (median of their rounds). */
function compareWithBaselines(cases) {
  return cases
    .filter((testCase) => testCase.pureJs !== undefined)
    .map((testCase) => ({
      case: testCase.name,
      baseline: testCase.pureJs.baseline,
      ratio: testCase.pureJs.vsBaseline.median,
    }))
}

function printBaselines(rows) {
  console.log('\nagainst the pure-JS baselines (optlayer ops/s / baseline ops/s, median of their own rounds)')
  printTable(
    ['case', 'baseline', 'x baseline'],
    rows.map((r) => [r.case, r.baseline, r.ratio.toPrecision(3)]),
  )
  const lowest = rows.reduce((a, b) => (b.ratio < a.ratio ? b : a), rows[0])
  if (lowest !== undefined) console.log(`lowest: ${lowest.ratio.toFixed(2)}x (${lowest.case}, ${lowest.baseline})`)
}

function evaluateBudgets(cases) {
  const budgets = []
  for (const testCase of cases) {
    if (testCase.size !== KIB || testCase.async) continue
    if (!['snappy', 'lz4', 'zstd 1'].includes(testCase.codec)) continue
    for (const contender of testCase.contenders) {
      budgets.push({
        case: testCase.name,
        contender: contender.name,
        role: contender.role,
        budgetNs: BUDGET_1KIB_NS,
        measuredNs: contender.nsPerOp,
        withinBudget: contender.nsPerOp <= BUDGET_1KIB_NS,
      })
    }
  }
  return budgets
}

function printBudgets(budgets) {
  console.log(`\nbudgets, 1 KiB snappy / lz4 / zstd 1: ${formatNumber(BUDGET_1KIB_NS)} ns/op`)
  printTable(
    ['case', 'contender', 'role', 'ns/op', 'x budget', 'within'],
    budgets.map((b) => [
      b.case,
      b.contender,
      b.role,
      formatNumber(b.measuredNs),
      (b.measuredNs / b.budgetNs).toFixed(2),
      b.withinBudget ? 'yes' : 'no',
    ]),
    3,
  )
}

const NOTES = [
  'Pure-JS baselines (fflate, snappyjs, lz4js; decoding only: fzstd, brotli.js) are checked like the peers' +
    ' (optlayer decodes their output, the reference decodes what they compress) and measured against optlayer' +
    ' alone, in rounds of their own once every case was measured ("x baseline"), so that the peers\' cases are' +
    ' measured as they were without them.',
  'Ratios are contender ops/s / reference ops/s within each round (>1: faster than the reference); MB/s counts' +
    ' uncompressed bytes in both directions.',
  'Every output was checked before timing: it decodes with optlayer and with the reference peer (cross-decoding' +
    ' both ways); "size x ref" is the output size over the reference peer\'s.',
  "Decompression cases decode the reference peer's output (the same bytes for every decoder).",
  "gzip/deflate levels: optlayer uses libdeflate, whose levels are not zlib's; sizes at the same number are compared" +
    ' in "size x ref" (target: within 2%).',
  `brotli: both sides at the same quality, lgwin ${BROTLI_WINDOW}, and the input size as BROTLI_PARAM_SIZE_HINT` +
    " (optlayer's one-shot encoder passes it; node:zlib is given the same).",
  'lz4: lz4-napi compressSync writes a raw lz4 block with a 4-byte size prefix, not a frame; its frame functions' +
    " (compressFrameSync/decompressFrameSync) are compared instead. optlayer's frames carry a content checksum and" +
    ' the content size, as lz4(1) writes them, so the reference is lz4-napi with contentChecksum: true; its default' +
    ' (no checksum) is listed as "less work".',
  'zstd: optlayer writes checksummed frames with the content size, as zstd(1) does; the reference is a reused' +
    ' zstd-napi Compressor with checksumFlag, whose output is byte-identical. zstd-napi compress() (its simple' +
    ' API, no checksum, parameters reset per call) is listed as "less work". At 1 KiB zstd-napi\'s raw binding' +
    ' (CCtx.compress2 / DCtx.decompress into a reused Buffer) is the like-for-like peer of compressInto.',
  '@mongodb-js/zstd is async-only and always level 3: it is compared with optlayer compressAsync/decompressAsync' +
    ' in the "async" cases; optlayer runs inputs up to 16 KiB inline, larger ones on the libuv pool.',
  'snappy: raw block format on both sides (byte-identical output).',
  'Async contenders run one operation at a time: they measure latency, not pool throughput.',
]

async function run(options) {
  console.log(
    `codecs suite: ${options.rounds} rounds (at 4 MiB ${planFor(MIB * 4, options).rounds})` +
      `${options.quick ? ' (quick: 4 MiB on JSON only)' : ''};` +
      ' ratios are contender ops/s / reference peer ops/s (>1: faster than the peer)',
  )
  const started = Date.now()
  const cases = []
  /** The pure-JS baselines' rounds, run once every case has been measured (see againstBaseline). */
  const againstPureJs = []
  let caseStarted = Date.now()
  const record = (result, meta, labels) => {
    const elapsedSeconds = (Date.now() - caseStarted) / 1000
    caseStarted = Date.now()
    printCase(result, labels)
    const recorded = { ...result, ...meta, elapsedSeconds }
    cases.push(recorded)
    return recorded
  }
  for (const size of SIZES) {
    const plan = planFor(size, options)
    for (const input of inputsFor(size, options)) {
      const data = input.data
      const inputLabel = `${input.kind} ${sizeLabel(size)}` + (data.length === size ? '' : ` (${data.length} B)`)
      for (const codec of CODECS.filter((c) => (options.quick ? (c.quickSizes ?? c.sizes) : c.sizes).includes(size))) {
        const meta = {
          codec: codec.label,
          algorithm: codec.algorithm,
          input: input.kind,
          size,
          inputBytes: data.length,
        }
        const compressors = compressContenders(codec, data)
        const frames = compressAndVerify(codec, data, compressors)
        const decompressors = decompressContenders(codec, data, frames.reference)

        const [compressPeers, compressBaseline] = apartFromBaseline(compressors)
        const compressed = await runCase(
          {
            name: `${codec.label} compress, ${inputLabel}`,
            bytes: data.length,
            reference: frames.referenceName,
            contenders: compressPeers,
          },
          plan,
        )
        const compressCase = record(compressed, { ...meta, operation: 'compress' }, COMPRESS_DETAILS)
        againstPureJs.push(async () =>
          Object.assign(compressCase, await againstBaseline(compressed, compressPeers, compressBaseline, plan)),
        )
        const [decompressPeers, decompressBaseline] = apartFromBaseline(decompressors)
        const referenceDecoder = decompressPeers.find((c) => c.role === 'peer').name
        const decompressed = await runCase(
          {
            name: `${codec.label} decompress, ${inputLabel}`,
            bytes: data.length,
            reference: referenceDecoder,
            contenders: decompressPeers,
          },
          plan,
        )
        const decompressCase = record(decompressed, { ...meta, operation: 'decompress' }, DECOMPRESS_DETAILS)
        againstPureJs.push(async () =>
          Object.assign(decompressCase, await againstBaseline(decompressed, decompressPeers, decompressBaseline, plan)),
        )

        if (codec.asyncPeer) {
          const asyncCase = await asyncContenders(codec, data, frames.ours)
          const compressedAsync = await runCase(
            {
              name: `${codec.label} compress async, ${inputLabel}`,
              bytes: data.length,
              reference: codec.asyncPeer.name,
              contenders: asyncCase.compress,
            },
            plan,
          )
          record(compressedAsync, { ...meta, operation: 'compress', async: true }, COMPRESS_DETAILS)
          const decompressedAsync = await runCase(
            {
              name: `${codec.label} decompress async, ${inputLabel}`,
              bytes: data.length,
              reference: codec.asyncPeer.name,
              contenders: asyncCase.decompress,
            },
            plan,
          )
          record(decompressedAsync, { ...meta, operation: 'decompress', async: true }, DECOMPRESS_DETAILS)
        }
      }
    }
  }

  console.log('\nthe pure-JS baselines, each against optlayer in rounds of its own:')
  for (const measure of againstPureJs) await measure()

  const eventLoop = await measureEventLoop(jsonPayload(JSON_SEED, EVENT_LOOP_BYTES), options)
  printEventLoop(eventLoop)

  const budgets = evaluateBudgets(cases)
  printBudgets(budgets)
  const figures = evaluateTargets(cases)
  printTargets(figures)
  const baselines = compareWithBaselines(cases)
  printBaselines(baselines)
  console.log(`\nnotes:\n${NOTES.map((note) => `- ${note}`).join('\n')}`)
  const elapsedSeconds = printSuiteTime(started)

  const file = writeResults('codecs', {
    packages: [
      'snappy',
      'lz4-napi',
      'zstd-napi',
      '@mongodb-js/zstd',
      'fflate',
      'snappyjs',
      'lz4js',
      'fzstd',
      'brotli',
      'benchmark',
    ],
    parameters: {
      ...options,
      plans: Object.fromEntries(SIZES.map((size) => [sizeLabel(size), planFor(size, options)])),
      jsonSeed: JSON_SEED,
      textSeed: TEXT_SEED,
      targetSizes: SIZES,
      codecs: CODECS.map((c) => ({ label: c.label, algorithm: c.algorithm, options: c.options, sizes: c.sizes })),
      intoMaxBytes: INTO_MAX_BYTES,
      zstdNapiLibrary: zstdBinding.versionString(),
      maxConcurrency: Compressor.maxConcurrency,
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
      elapsedSeconds,
    },
    cases,
    eventLoop,
    budgets,
    figures,
    baselines,
    notes: NOTES,
  })
  console.log(`\nwrote ${file}`)
}

module.exports = { run }

runIfMain(module, run)
