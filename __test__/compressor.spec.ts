import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'

import test from 'ava'
import {
  AbortError,
  Compressor,
  COMPRESSOR_DEFAULTS,
  CorruptInputError,
  InternalError,
  InvalidArgumentError,
  OptlayerError,
  OutputLimitError,
} from 'optlayer'

import { sameBytes } from './helpers/bytes'
import { runDetachCase } from './helpers/detach'

function text(length: number): Buffer {
  const words = ['cache', 'limiter', 'queue', 'zstd', 'backend', 'latency', 'p99', '{"id":', '42}', '\n']
  const parts: string[] = []
  let size = 0
  for (let i = 0; size < length; i++) {
    const word = words[(i * 7 + (i >> 3)) % words.length] ?? ''
    parts.push(word)
    size += word.length + 1
  }
  return Buffer.from(parts.join(' ')).subarray(0, length)
}

// Around the 31 KiB scratch threshold and the 32 KiB scratch itself, plus the extremes.
const sizes = [0, 1, 100, 31 * 1024 - 1, 31 * 1024, 31 * 1024 + 1, 32 * 1024, 200_000, 3 << 20]

for (const size of sizes) {
  test(`sync round trip of ${size} bytes`, (t) => {
    const input = text(size)
    const packed = Compressor.compress(input, 'zstd')
    t.true(Buffer.isBuffer(packed))
    sameBytes(t, Compressor.decompress(packed, 'zstd'), input)
  })

  test(`async round trip of ${size} bytes`, async (t) => {
    const input = text(size)
    const packed = await Compressor.compressAsync(input, 'zstd')
    sameBytes(t, await Compressor.decompressAsync(packed, 'zstd'), input)
    sameBytes(t, Compressor.decompress(packed, 'zstd'), input, 'sync and async share one format')
  })
}

test('incompressible input round trips', (t) => {
  for (const size of [10, 31 * 1024, 100_000]) {
    const input = randomBytes(size)
    sameBytes(t, Compressor.decompress(Compressor.compress(input, 'zstd'), 'zstd'), input)
  }
})

test('results do not alias the reused scratch buffer', (t) => {
  const a = Compressor.compress('first payload', 'zstd')
  const aCopy = Buffer.from(a)
  Compressor.compress('second, different payload', 'zstd')
  sameBytes(t, a, aCopy)
  const plainA = Compressor.decompress(a, 'zstd')
  Compressor.decompress(Compressor.compress('other', 'zstd'), 'zstd')
  t.is(plainA.toString(), 'first payload')
})

test('strings and Uint8Array views are accepted', (t) => {
  const backing = Buffer.from('xxhello viewxx')
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 10)
  t.is(Compressor.decompress(Compressor.compress(view, 'zstd'), 'zstd').toString(), 'hello view')
  t.is(Compressor.decompress(Compressor.compress('héllo ✓', 'zstd'), 'zstd').toString(), 'héllo ✓')
})

test('levels trade speed for size and stay compatible', (t) => {
  const input = text(100_000)
  const fast = Compressor.compress(input, 'zstd', { level: -5 })
  const small = Compressor.compress(input, 'zstd', { level: 19 })
  t.true(small.length < fast.length)
  sameBytes(t, Compressor.decompress(fast, 'zstd'), input)
  sameBytes(t, Compressor.decompress(small, 'zstd'), input)
})

test('output is standard zstd that zstd(1) decodes and produces', (t) => {
  const input = text(50_000)
  const ours = Compressor.compress(input, 'zstd', { level: 7 })
  sameBytes(t, execFileSync('zstd', ['-d', '-c', '-q'], { input: ours }), input)
  const theirs = execFileSync('zstd', ['-c', '-q', '-5'], { input })
  sameBytes(t, Compressor.decompress(theirs, 'zstd'), input)
  // A streamed frame carries no content size: exercises the incremental decoder.
  const streamed = execFileSync('sh', ['-c', 'cat | zstd -c -q'], { input })
  sameBytes(t, Compressor.decompress(streamed, 'zstd'), input)
})

test('corrupt, truncated and empty input throw CorruptInputError', async (t) => {
  const packed = Compressor.compress(text(10_000), 'zstd')
  const flipped = Buffer.from(packed)
  flipped[flipped.length >> 1]! ^= 0xff
  for (const bad of [
    Buffer.from('definitely not zstd'),
    packed.subarray(0, packed.length - 5),
    Buffer.alloc(0),
    flipped,
  ]) {
    const err = t.throws(() => Compressor.decompress(bad, 'zstd'), { instanceOf: CorruptInputError })
    t.is(err?.code, 'ERR_OPTLAYER_CORRUPT_INPUT')
    t.is(err?.name, 'CorruptInputError')
    t.true(err instanceof OptlayerError)
    t.truthy(err?.cause, 'keeps the native error as cause')
    await t.throwsAsync(Compressor.decompressAsync(bad, 'zstd'), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
  }
})

test('maxOutputBytes bounds decompression, sync and async', async (t) => {
  const bomb = Compressor.compress(Buffer.alloc(8 << 20), 'zstd')
  t.true(bomb.length < 2048)
  const err = t.throws(() => Compressor.decompress(bomb, 'zstd', { maxOutputBytes: 1 << 20 }), {
    instanceOf: OutputLimitError,
  })
  t.regex(err?.message ?? '', /maxOutputBytes/)
  await t.throwsAsync(Compressor.decompressAsync(bomb, 'zstd', { maxOutputBytes: 1 << 20 }), {
    code: 'ERR_OPTLAYER_OUTPUT_LIMIT',
  })
  t.is(Compressor.decompress(bomb, 'zstd', { maxOutputBytes: 8 << 20 }).length, 8 << 20)
  t.is(COMPRESSOR_DEFAULTS.maxOutputBytes, 64 << 20)
})

test('the default limit refuses a 65 MiB bomb', (t) => {
  const bomb = Compressor.compress(Buffer.alloc(65 << 20), 'zstd', { level: 1 })
  t.throws(() => Compressor.decompress(bomb, 'zstd'), { code: 'ERR_OPTLAYER_OUTPUT_LIMIT' })
})

test('bad arguments throw InvalidArgumentError naming what was expected', async (t) => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => Compressor.compress(42 as unknown as string, 'zstd'), /input must be .*got number 42/],
    [() => Compressor.compress('x', 'lzma' as 'zstd'), /algorithm must be one of .*, got "lzma"/],
    [() => Compressor.compress('x', 'zstd', { level: 1.5 }), /invalid level: expected an integer/],
    [() => Compressor.compress('x', 'zstd', { level: 99 }), /between .* and 22, got 99/],
    [() => Compressor.decompress('x' as unknown as Buffer, 'zstd'), /compressed input must be/],
    [() => Compressor.decompress(Buffer.alloc(1), 'zstd', { maxOutputBytes: -1 }), /maxOutputBytes/],
    [() => Compressor.decompress(Buffer.alloc(1), 'zstd', { maxOutputBytes: Number.NaN }), /maxOutputBytes/],
  ]
  for (const [call, message] of cases) {
    t.throws(call, { instanceOf: InvalidArgumentError, code: 'ERR_OPTLAYER_INVALID_ARGUMENT', message })
  }
  await t.throwsAsync(Compressor.compressAsync('x', 'zstd', { level: 99 }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  await t.throwsAsync(Compressor.compressAsync('x', 'zstd', { signal: {} as AbortSignal }), {
    code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
  })
})

test('an aborted signal rejects with AbortError', async (t) => {
  const controller = new AbortController()
  controller.abort()
  const input = text(1000)
  await t.throwsAsync(Compressor.compressAsync(input, 'zstd', { signal: controller.signal }), {
    instanceOf: AbortError,
    code: 'ERR_OPTLAYER_ABORTED',
  })
  const packed = Compressor.compress(input, 'zstd')
  await t.throwsAsync(Compressor.decompressAsync(packed, 'zstd', { signal: controller.signal }), {
    code: 'ERR_OPTLAYER_ABORTED',
  })
})

test('aborting work still queued behind a busy thread pool rejects it', async (t) => {
  // Occupy every libuv thread (4 by default) with slow level-19 work, then queue one more.
  const busy = Array.from({ length: 8 }, (_, i) =>
    Compressor.compressAsync(text(4 << 20).fill(i, 0, 1), 'zstd', { level: 19 }),
  )
  const controller = new AbortController()
  const queued = Compressor.compressAsync(text(64 * 1024), 'zstd', { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(queued, { code: 'ERR_OPTLAYER_ABORTED' })
  t.is((await Promise.all(busy)).length, 8, 'the busy work still completes')
})

test('many concurrent async calls all complete correctly', async (t) => {
  const inputs = Array.from({ length: 200 }, (_, i) => text(1000 + i * 97))
  const packed = await Promise.all(inputs.map((input, i) => Compressor.compressAsync(input, 'zstd', { level: i % 9 })))
  const plain = await Promise.all(packed.map((p) => Compressor.decompressAsync(p, 'zstd')))
  inputs.forEach((input, i) => sameBytes(t, plain[i] ?? Buffer.alloc(0), input, `call ${i}`))
})

test('error classes brand-check by code, across copies', (t) => {
  const err = new CorruptInputError('x')
  t.true(err instanceof CorruptInputError)
  t.true(err instanceof OptlayerError)
  t.false(err instanceof OutputLimitError)
  t.false(new Error('plain') instanceof OptlayerError)
  t.false(new InternalError('y') instanceof CorruptInputError)
  t.is(err.code, 'ERR_OPTLAYER_CORRUPT_INPUT')
})

// The caller's buffer may be transferred away (postMessage, structuredClone with
// `transfer`) and its new owner collected while a pool task still runs: the task must
// work on bytes it owns. A read of the freed buffer kills the child with SIGSEGV.
test('compressAsync owns its input: detached and collected while the task waits, the output is right', (t) => {
  const outcome = runDetachCase(`
    const { Compressor } = optlayer
    const original = input()
    const expected = Buffer.from(original)
    const release = occupyPool()
    const packing = Compressor.compressAsync(original, 'zstd', { level: 3 })
    detachAndCollect(original)
    await release()
    const packed = await packing
    return { equal: Compressor.decompress(packed, 'zstd', { maxOutputBytes: SIZE }).equals(expected) }
  `)
  t.is(outcome.signal, null, outcome.stderr)
  t.is(outcome.status, 0, outcome.stderr)
  t.deepEqual(outcome.result, { equal: true })
})

test('decompressAsync owns its input: detached and collected while the task waits, the output is right', (t) => {
  const outcome = runDetachCase(`
    const { Compressor } = optlayer
    // Incompressible, so the compressed input is as large as the original.
    const expected = crypto.randomBytes(SIZE)
    const packed = new Uint8Array(Compressor.compress(expected, 'zstd', { level: 1 }))
    const release = occupyPool()
    const unpacking = Compressor.decompressAsync(packed, 'zstd', { maxOutputBytes: SIZE })
    detachAndCollect(packed)
    await release()
    return { equal: (await unpacking).equals(expected) }
  `)
  t.is(outcome.signal, null, outcome.stderr)
  t.is(outcome.status, 0, outcome.stderr)
  t.deepEqual(outcome.result, { equal: true })
})
