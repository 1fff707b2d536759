import { randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'

import test from 'ava'
import {
  COMPRESSION_ALGORITHMS,
  Compressor,
  codecStats,
  createCompressStream,
  createDecompressStream,
  MetricsCollector,
  type CompressionAlgorithm,
  type StreamAlgorithm,
} from 'optlayer'

import { sameBytes } from './helpers/bytes'
import { runDetachCase } from './helpers/detach'

function json(records: number): Buffer {
  const rows = Array.from({ length: records }, (_, i) => ({
    id: i,
    user: `user-${i % 97}`,
    email: `user${i % 97}@example.com`,
    total: Math.round(((i * 7919) % 10000) / 3) / 100,
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString(),
    tags: ['alpha', 'beta', 'gamma'].slice(0, i % 4),
  }))
  return Buffer.from(JSON.stringify(rows))
}

const shapes: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  byte: Buffer.from('x'),
  json1k: json(8),
  json16k: json(120).subarray(0, 16 * 1024),
  json200k: json(1500),
  random20k: randomBytes(20_000),
  zeros1m: Buffer.alloc(1 << 20),
}

const variants: Array<{ algorithm: CompressionAlgorithm; framed?: boolean }> = [
  ...COMPRESSION_ALGORITHMS.map((algorithm) => ({ algorithm })),
  { algorithm: 'snappy', framed: true },
]

for (const { algorithm, framed } of variants) {
  const label = framed ? `${algorithm} framed` : algorithm
  test(`${label}: sync, async and Into round trips over every shape`, async (t) => {
    for (const [shape, input] of Object.entries(shapes)) {
      const packed = Compressor.compress(input, algorithm, { framed })
      sameBytes(t, Compressor.decompress(packed, algorithm, { framed }), input, `${shape} sync`)
      const packedAsync = await Compressor.compressAsync(input, algorithm, { framed })
      sameBytes(t, await Compressor.decompressAsync(packedAsync, algorithm, { framed }), input, `${shape} async`)
      sameBytes(
        t,
        Compressor.decompress(packedAsync, algorithm, { framed }),
        input,
        `${shape} async output, sync decoder`,
      )
      if (input.length <= 64 * 1024) {
        const out = Buffer.alloc(Compressor.compressBound(algorithm, input.length, { framed }))
        const length = Compressor.compressInto(input, out, algorithm, { framed })
        const plain = Buffer.alloc(input.length + 16)
        const n = Compressor.decompressInto(out.subarray(0, length), plain, algorithm, { framed })
        sameBytes(t, plain.subarray(0, n), input, `${shape} Into`)
      }
    }
  })

  test(`${label}: corrupt and truncated input give CorruptInputError`, (t) => {
    const packed = Compressor.compress(json(200), algorithm, { framed })
    for (const bad of [packed.subarray(0, packed.length >> 1), Buffer.from('not compressed data at all, really')]) {
      t.throws(() => Compressor.decompress(bad, algorithm, { framed }), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
    }
  })

  test(`${label}: a bomb stops at maxOutputBytes`, async (t) => {
    const bomb = Compressor.compress(Buffer.alloc(4 << 20), algorithm, { framed })
    t.throws(() => Compressor.decompress(bomb, algorithm, { framed, maxOutputBytes: 1 << 20 }), {
      code: 'ERR_OPTLAYER_OUTPUT_LIMIT',
    })
    await t.throwsAsync(Compressor.decompressAsync(bomb, algorithm, { framed, maxOutputBytes: 1 << 20 }), {
      code: 'ERR_OPTLAYER_OUTPUT_LIMIT',
    })
    const small = Buffer.alloc(100)
    t.throws(() => Compressor.decompressInto(bomb, small, algorithm, { framed }), { code: 'ERR_OPTLAYER_OUTPUT_LIMIT' })
  })
}

test('gzip, deflate, deflate-raw and br interoperate with node:zlib both ways', (t) => {
  const input = json(500)
  const pairs: Array<[CompressionAlgorithm, (b: Buffer) => Buffer, (b: Buffer) => Buffer]> = [
    ['gzip', zlib.gzipSync, zlib.gunzipSync],
    ['deflate', zlib.deflateSync, zlib.inflateSync],
    ['deflate-raw', zlib.deflateRawSync, zlib.inflateRawSync],
    ['br', zlib.brotliCompressSync, zlib.brotliDecompressSync],
  ]
  for (const [algorithm, theirCompress, theirDecompress] of pairs) {
    sameBytes(t, theirDecompress(Compressor.compress(input, algorithm)), input, `${algorithm}: zlib decodes ours`)
    sameBytes(t, Compressor.decompress(theirCompress(input), algorithm), input, `${algorithm}: we decode zlib's`)
  }
  const twoMembers = Buffer.concat([zlib.gzipSync('hello '), zlib.gzipSync('world')])
  t.is(Compressor.decompress(twoMembers, 'gzip').toString(), 'hello world', 'multi-member gzip')
})

test('levels: invalid ones are typed errors, valid extremes round trip', (t) => {
  const input = json(300)
  for (const [algorithm, low, high] of [
    ['gzip', 0, 12],
    ['zstd', -5, 19],
    ['br', 0, 11],
  ] as const) {
    for (const level of [low, high]) {
      sameBytes(t, Compressor.decompress(Compressor.compress(input, algorithm, { level }), algorithm), input)
    }
    t.throws(() => Compressor.compress(input, algorithm, { level: high + 100 }), {
      code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
    })
  }
  t.throws(() => Compressor.compress(input, 'br', { window: 99 }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.throws(() => Compressor.compress(input, 'nope' as CompressionAlgorithm), {
    code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
    message: /algorithm must be one of gzip, deflate, deflate-raw, snappy, zstd, br, lz4, got "nope"/,
  })
})

const streamAlgorithms: StreamAlgorithm[] = ['zstd', 'gzip', 'deflate', 'deflate-raw', 'br', 'lz4', 'snappy']

function chunks(input: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < input.length; i += size) out.push(input.subarray(i, i + size))
  return out
}

async function collect(source: Iterable<Buffer>, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const parts: Buffer[] = []
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk)
      // A slow consumer, so back-pressure reaches the codec.
      setImmediate(callback)
    },
  })
  await pipeline(Readable.from(source), ...(transforms as [NodeJS.ReadWriteStream]), sink)
  return Buffer.concat(parts)
}

for (const algorithm of streamAlgorithms) {
  test(`${algorithm} streams round trip with odd chunking and a slow consumer`, async (t) => {
    const input = Buffer.concat([json(3000), randomBytes(50_000)])
    const packed = await collect(chunks(input, 7777), createCompressStream(algorithm))
    const framed = algorithm === 'snappy'
    sameBytes(t, Compressor.decompress(packed, algorithm, { framed }), input, 'one-shot decoder reads the stream')
    sameBytes(
      t,
      await collect(chunks(packed, 13), createDecompressStream(algorithm)),
      input,
      'stream decoder, tiny chunks',
    )
    const oneShot = Compressor.compress(input, algorithm, { framed })
    sameBytes(
      t,
      await collect([oneShot], createDecompressStream(algorithm)),
      input,
      'stream decoder reads one-shot output',
    )
  })
}

test('a truncated stream fails with CorruptInputError, a bomb with OutputLimitError', async (t) => {
  const packed = Compressor.compress(json(2000), 'zstd')
  await t.throwsAsync(collect([packed.subarray(0, packed.length - 10)], createDecompressStream('zstd')), {
    code: 'ERR_OPTLAYER_CORRUPT_INPUT',
  })
  const bomb = Compressor.compress(Buffer.alloc(8 << 20), 'gzip')
  await t.throwsAsync(collect([bomb], createDecompressStream('gzip', { maxOutputBytes: 1 << 20 })), {
    code: 'ERR_OPTLAYER_OUTPUT_LIMIT',
  })
})

test('gzip stream output is read by node:zlib and vice versa', async (t) => {
  const input = json(2000)
  const ours = await collect(chunks(input, 4096), createCompressStream('gzip'))
  sameBytes(t, zlib.gunzipSync(ours), input)
  sameBytes(t, await collect(chunks(zlib.gzipSync(input), 1000), createDecompressStream('gzip')), input)
})

for (const algorithm of ['zstd', 'gzip', 'br'] as const) {
  test(`${algorithm} flushPending emits a decodable prefix mid-stream`, async (t) => {
    const encoder = createCompressStream(algorithm)
    const emitted: Buffer[] = []
    encoder.on('data', (chunk: Buffer) => emitted.push(chunk))
    encoder.write('event: one\n\n')
    await encoder.flushPending()
    const decoder = createDecompressStream(algorithm)
    const decoded = new Promise<string>((resolve) => decoder.once('data', (chunk: Buffer) => resolve(chunk.toString())))
    decoder.write(Buffer.concat(emitted))
    t.is(await decoded, 'event: one\n\n')
    decoder.destroy()
    encoder.destroy()
  })
}

test.serial('async work is capped at maxConcurrency and all of it completes', async (t) => {
  const previous = Compressor.maxConcurrency
  Compressor.maxConcurrency = 2
  t.teardown(() => {
    Compressor.maxConcurrency = previous
  })
  const input = json(20_000)
  let peak = 0
  const jobs = Array.from({ length: 10 }, () => {
    const job = Compressor.compressAsync(input, 'br', { level: 5 })
    peak = Math.max(peak, Compressor.asyncLoad.active)
    return job
  })
  t.is(Compressor.asyncLoad.waiting, 8)
  const results = await Promise.all(jobs)
  t.true(peak <= 2)
  for (const packed of results) sameBytes(t, Compressor.decompress(packed, 'br'), input)
  t.deepEqual(Compressor.asyncLoad, { active: 0, waiting: 0 })
  t.throws(() => (Compressor.maxConcurrency = 0), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})

test.serial('an abort while queued for a slot rejects without running', async (t) => {
  const previous = Compressor.maxConcurrency
  Compressor.maxConcurrency = 1
  t.teardown(() => {
    Compressor.maxConcurrency = previous
  })
  const input = json(20_000)
  const busy = Compressor.compressAsync(input, 'br', { level: 9 })
  const controller = new AbortController()
  const queued = Compressor.compressAsync(input, 'gzip', { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(queued, { code: 'ERR_OPTLAYER_ABORTED' })
  await busy
  t.is(Compressor.asyncLoad.waiting, 0)
})

test('codec metrics count bytes and reach Prometheus', async (t) => {
  const before = codecStats().compress.lz4?.calls ?? 0
  const input = json(100)
  const packed = Compressor.compress(input, 'lz4')
  const after = codecStats().compress.lz4
  t.is(after?.calls, before + 1)
  t.true((after?.bytesIn ?? 0) >= input.length)
  t.true((after?.bytesOut ?? 0) >= packed.length)
  const metrics = new MetricsCollector({ defaultMetrics: false })
  const text = await metrics.expose()
  t.regex(text, /optlayer_codec_bytes_in_total\{operation="compress",algorithm="lz4"\} \d+/)
  t.regex(text, /optlayer_codec_async_jobs\{state="waiting"\} \d+/)
})

// As with Compressor.compressAsync: a chunk whose buffer is transferred away and collected
// while its write waits on the pool must not be read from freed memory, and the flush and
// finish steps after it must still see the whole stream.
test('a compress stream owns each chunk: detached and collected during write, flush and finish are right', (t) => {
  const outcome = runDetachCase(`
    const { Compressor, createCompressStream, createDecompressStream } = optlayer
    const original = input()
    const expected = Buffer.from(original)
    const stream = createCompressStream('zstd', { level: 3 })
    const chunks = []
    stream.on('data', (chunk) => chunks.push(chunk))
    const ended = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject))
    const release = occupyPool()
    stream.write(original)
    detachAndCollect(original)
    await release()
    await stream.flushPending()
    // A flush emits a decodable prefix: everything written so far.
    const decoder = createDecompressStream('zstd', { maxOutputBytes: SIZE })
    const decoded = []
    decoder.on('data', (chunk) => decoded.push(chunk))
    await new Promise((resolve, reject) => decoder.write(Buffer.concat(chunks), (err) => (err ? reject(err) : resolve())))
    const prefix = Buffer.concat(decoded)
    decoder.destroy()
    stream.end()
    await ended
    const whole = Compressor.decompress(Buffer.concat(chunks), 'zstd', { maxOutputBytes: SIZE })
    return { prefix: prefix.equals(expected), whole: whole.equals(expected) }
  `)
  t.is(outcome.signal, null, outcome.stderr)
  t.is(outcome.status, 0, outcome.stderr)
  t.deepEqual(outcome.result, { prefix: true, whole: true })
})

test('a decompress stream owns each chunk: detached and collected during write, finish is right', (t) => {
  const outcome = runDetachCase(`
    const { Compressor, createDecompressStream } = optlayer
    const expected = crypto.randomBytes(SIZE)
    const packed = new Uint8Array(Compressor.compress(expected, 'zstd', { level: 1 }))
    const stream = createDecompressStream('zstd', { maxOutputBytes: SIZE })
    const chunks = []
    stream.on('data', (chunk) => chunks.push(chunk))
    const ended = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject))
    const release = occupyPool()
    stream.write(packed)
    detachAndCollect(packed)
    await release()
    stream.end()
    await ended
    return { equal: Buffer.concat(chunks).equals(expected) }
  `)
  t.is(outcome.signal, null, outcome.stderr)
  t.is(outcome.status, 0, outcome.stderr)
  t.deepEqual(outcome.result, { equal: true })
})
