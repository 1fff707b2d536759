import { performance } from 'node:perf_hooks'

import { fromNativeError, InvalidArgumentError, OutputLimitError } from '../core/errors'
import { reportComponentMetrics } from '../core/component-registry'
import { native } from '../core/native'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'
import {
  checkSignal,
  describe,
  nativeCodec,
  optionalInteger,
  toBytes,
  toCompressed,
  type CompressionAlgorithm,
  type NativeCodec,
} from './algorithms'
import { recordCodecCall, shouldTime, type CodecOperation } from './codec-stats'
import { codecMetrics } from './codec-metrics'
import { ConcurrencyLimit } from './concurrency'

/** Options of {@link Compressor.compress} and its variants. */
export interface CompressOptions {
  /**
   * Compression level; each codec has its own range and default:
   * zstd -131072..22 (default 3), br 0..11 (default 5), gzip/deflate/deflate-raw 0..12
   * (libdeflate levels, default 6), lz4 and snappy have no levels.
   */
  level?: number
  /** Window size as a base-2 log: brotli's lgwin (10..24), zstd's windowLog. @default the codec's */
  window?: number
  /** snappy only: the framing format instead of the raw block format. @default false */
  framed?: boolean
}

/** Options of {@link Compressor.decompress} and its variants. */
export interface DecompressOptions {
  /**
   * Largest decompressed size accepted; a larger output throws `OutputLimitError` before
   * the memory is spent, so a decompression bomb costs nothing.
   * @default 67108864 (64 MiB)
   */
  maxOutputBytes?: number
  /** snappy only: the input is in the framing format. @default false */
  framed?: boolean
}

/** Cancellation for the async variants. */
export interface AsyncCodecOptions {
  /** Cancels the work while it waits for a slot or for the thread pool. */
  signal?: AbortSignal
}

/** Defaults of the {@link Compressor} options that are the same for every codec. */
export const COMPRESSOR_DEFAULTS = Object.freeze({
  maxOutputBytes: 64 * 1024 * 1024,
})

/**
 * Inputs up to 16 KiB compress into one reused 32 KiB scratch (every codec's worst case
 * for 16 KiB fits), and outputs that fit it decompress there: the native side returns only
 * a length and JavaScript copies the result into a pooled Buffer, since creating a Buffer
 * natively costs more than coding a small payload (measured: benchmark/codecs.js).
 */
const COMPRESS_NAMES = optionNames<CompressOptions>()({}, { level: true, window: true, framed: true })
const DECOMPRESS_NAMES = optionNames<DecompressOptions>()(COMPRESSOR_DEFAULTS, { framed: true })
const ASYNC_NAMES = optionNames<AsyncCodecOptions>()({}, { signal: true })
const ASYNC_COMPRESS_NAMES = [...COMPRESS_NAMES, ...ASYNC_NAMES]
const ASYNC_DECOMPRESS_NAMES = [...DECOMPRESS_NAMES, ...ASYNC_NAMES]

/** The `maxOutputBytes` option of a decompression, or its default. @internal */
export function outputLimit(value: unknown): number {
  return wholeNumber('maxOutputBytes', value, 0, undefined, COMPRESSOR_DEFAULTS.maxOutputBytes)
}

const SCRATCH_BYTES = 32 * 1024
const SMALL_INPUT_BYTES = 16 * 1024

/**
 * Async calls on inputs up to this size run inline and return a settled promise: a trip
 * through the libuv pool costs 35–50 µs here, more than coding 16 KiB of JSON
 * (benchmark/results/zstd.json).
 */
const ASYNC_INLINE_BYTES = SMALL_INPUT_BYTES

const pool = new ConcurrencyLimit()
let scratch: Buffer | undefined

function scratchBuffer(): Buffer {
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
  return scratch
}

function checkOutput(output: unknown): asserts output is Buffer {
  if (!Buffer.isBuffer(output)) throw new InvalidArgumentError(`output must be a Buffer, got ${describe(output)}`)
}

function copyOut(source: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  source.copy(out, 0, 0, length)
  return out
}

function compressSync(codec: NativeCodec, bytes: Uint8Array, level: number | undefined, window: number | undefined) {
  if (bytes.length > SMALL_INPUT_BYTES) return native.compress(codec, bytes, level, window)
  const out = scratchBuffer()
  return copyOut(out, native.compressInto(codec, bytes, out, level, window))
}

/**
 * Inputs above this rarely decode into 32 KiB, and for formats without a declared size a
 * failed attempt decodes 32 KiB for nothing (measured: br at 64 KiB ran at 0.7× instead
 * of 1.1× of node:zlib), so they go straight to the allocating call.
 */
const SCRATCH_DECODE_INPUT_BYTES = SCRATCH_BYTES / 4

/** Decompresses into the scratch; `undefined` when the output does not (or likely would not) fit it. */
function decompressSmall(codec: NativeCodec, bytes: Uint8Array, max: number): Buffer | undefined {
  if (bytes.length > SCRATCH_DECODE_INPUT_BYTES) return undefined
  const out = scratchBuffer()
  const length = native.decompressInto(codec, bytes, out, max)
  return length >= 0 ? copyOut(out, length) : undefined
}

/**
 * Runs a synchronous codec call, mapping native errors and recording metrics; a call that
 * returns `undefined` (did not fit the scratch) is not counted.
 */
function measured<R extends Buffer | undefined>(
  operation: CodecOperation,
  algorithm: CompressionAlgorithm,
  bytes: Uint8Array,
  call: () => R,
): R {
  const started = shouldTime(bytes.length) ? performance.now() : undefined
  let out: R
  try {
    out = call()
  } catch (err) {
    throw fromNativeError(err)
  }
  if (out !== undefined) {
    const seconds = started === undefined ? undefined : (performance.now() - started) / 1000
    recordCodecCall(operation, algorithm, bytes.length, out.length, seconds)
  }
  return out
}

/** Runs a codec job on the libuv pool under the concurrency cap. */
async function pooled(
  operation: CodecOperation,
  algorithm: CompressionAlgorithm,
  bytes: Uint8Array,
  signal: AbortSignal | undefined,
  job: () => Promise<Buffer>,
): Promise<Buffer> {
  const out = await pool.run(async () => {
    const started = performance.now()
    try {
      const result = await job()
      recordCodecCall(operation, algorithm, bytes.length, result.length, (performance.now() - started) / 1000)
      return result
    } catch (err) {
      throw fromNativeError(err)
    }
  }, signal)
  return out
}

/**
 * Compression codecs implemented in Rust: gzip, deflate (zlib and raw), snappy (raw and
 * framed), zstd, brotli and lz4 frames, every output in the standard format. Synchronous
 * calls suit small payloads; the `*Async` variants run on the libuv thread pool, capped at
 * {@link Compressor.maxConcurrency} jobs, and keep the event loop free.
 *
 * @example
 * ```ts
 * const packed = Compressor.compress(Buffer.from('hello'), 'zstd', { level: 3 })
 * const plain = Compressor.decompress(packed, 'zstd') // <Buffer 68 65 6c 6c 6f>
 * const body = await Compressor.compressAsync(largeJson, 'br', { level: 5 })
 * ```
 */
export class Compressor {
  private constructor() {}

  /** Codec jobs allowed on the libuv pool at once; more wait in FIFO order. @default os.availableParallelism() */
  static get maxConcurrency(): number {
    return pool.limit
  }

  static set maxConcurrency(value: number) {
    pool.limit = value
  }

  /** Jobs on the pool now and jobs waiting for a slot. */
  static get asyncLoad(): { active: number; waiting: number } {
    return pool.load
  }

  /** The worst-case compressed size of `length` input bytes, to size a {@link Compressor.compressInto} output. */
  static compressBound(
    algorithm: CompressionAlgorithm,
    length: number,
    options?: Pick<CompressOptions, 'framed'>,
  ): number {
    knownOptions('options', options, ['framed'])
    const codec = nativeCodec(algorithm, options?.framed)
    return native.compressBound(codec, wholeNumber('length', length, 0, undefined, 0))
  }

  /** Compresses `input` synchronously. Strings are encoded as UTF-8. */
  static compress(input: Uint8Array | string, algorithm: CompressionAlgorithm, options?: CompressOptions): Buffer {
    knownOptions('options', options, COMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toBytes(input, 'input')
    const level = optionalInteger(options?.level, 'level')
    const window = optionalInteger(options?.window, 'window')
    return measured('compress', algorithm, bytes, () => compressSync(codec, bytes, level, window))
  }

  /**
   * Compresses `input` into `output`, which must hold {@link Compressor.compressBound}
   * bytes, and returns the compressed length. Allocates nothing: the fastest path for
   * small payloads when the caller reuses `output`.
   */
  static compressInto(
    input: Uint8Array | string,
    output: Buffer,
    algorithm: CompressionAlgorithm,
    options?: CompressOptions,
  ): number {
    knownOptions('options', options, COMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toBytes(input, 'input')
    const level = optionalInteger(options?.level, 'level')
    const window = optionalInteger(options?.window, 'window')
    checkOutput(output)
    try {
      const length = native.compressInto(codec, bytes, output, level, window)
      recordCodecCall('compress', algorithm, bytes.length, length, undefined)
      return length
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Decompresses `input` synchronously, refusing outputs above `maxOutputBytes`. */
  static decompress(input: Uint8Array, algorithm: CompressionAlgorithm, options?: DecompressOptions): Buffer {
    knownOptions('options', options, DECOMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toCompressed(input)
    const max = outputLimit(options?.maxOutputBytes)
    return measured(
      'decompress',
      algorithm,
      bytes,
      () => decompressSmall(codec, bytes, max) ?? native.decompress(codec, bytes, max),
    )
  }

  /**
   * Decompresses `input` into `output` and returns the decompressed length. Throws
   * `OutputLimitError` when the output does not fit `output` (or `maxOutputBytes`).
   */
  static decompressInto(
    input: Uint8Array,
    output: Buffer,
    algorithm: CompressionAlgorithm,
    options?: DecompressOptions,
  ): number {
    knownOptions('options', options, DECOMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toCompressed(input)
    const max = outputLimit(options?.maxOutputBytes)
    checkOutput(output)
    let length: number
    try {
      length = native.decompressInto(codec, bytes, output, max)
    } catch (err) {
      throw fromNativeError(err)
    }
    if (length < 0)
      throw new OutputLimitError(`decompressed output does not fit the ${output.length}-byte output buffer`)
    recordCodecCall('decompress', algorithm, bytes.length, length, undefined)
    return length
  }

  /**
   * Compresses on the libuv thread pool (inputs up to 16 KiB inline, where the pool costs
   * more than the work). The input must not be modified until the promise settles.
   */
  static async compressAsync(
    input: Uint8Array | string,
    algorithm: CompressionAlgorithm,
    options?: CompressOptions & AsyncCodecOptions,
  ): Promise<Buffer> {
    knownOptions('options', options, ASYNC_COMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toBytes(input, 'input')
    const level = optionalInteger(options?.level, 'level')
    const window = optionalInteger(options?.window, 'window')
    const signal = checkSignal(options?.signal)
    if (bytes.length <= ASYNC_INLINE_BYTES) {
      return measured('compress', algorithm, bytes, () => compressSync(codec, bytes, level, window))
    }
    return pooled('compress', algorithm, bytes, signal, () => native.compressAsync(codec, bytes, level, window, signal))
  }

  /**
   * Decompresses on the libuv thread pool, refusing outputs above `maxOutputBytes`;
   * small inputs whose output fits 32 KiB run inline. The input must not be modified
   * until the promise settles.
   */
  static async decompressAsync(
    input: Uint8Array,
    algorithm: CompressionAlgorithm,
    options?: DecompressOptions & AsyncCodecOptions,
  ): Promise<Buffer> {
    knownOptions('options', options, ASYNC_DECOMPRESS_NAMES)
    const codec = nativeCodec(algorithm, options?.framed)
    const bytes = toCompressed(input)
    const max = outputLimit(options?.maxOutputBytes)
    const signal = checkSignal(options?.signal)
    if (bytes.length <= ASYNC_INLINE_BYTES) {
      const small = measured('decompress', algorithm, bytes, () => decompressSmall(codec, bytes, max))
      if (small !== undefined) return small
    }
    return pooled('decompress', algorithm, bytes, signal, () => native.decompressAsync(codec, bytes, max, signal))
  }
}

reportComponentMetrics(
  'codec',
  codecMetrics(() => pool.load),
)
