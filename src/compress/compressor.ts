import { AbortError, InvalidArgumentError, fromNativeError } from '../errors'
import { native } from '../native'

/** Codecs available in this release. The codecs issue adds gzip, deflate, br, snappy and lz4. */
export type CompressionAlgorithm = 'zstd'

/** Options of {@link Compressor.compress}. */
export interface CompressOptions {
  /**
   * zstd level: 1 (fastest) to 22 (smallest); negative levels trade ratio for speed.
   * @default 3
   */
  level?: number
}

/** Options of {@link Compressor.decompress}. */
export interface DecompressOptions {
  /**
   * Largest decompressed size accepted; a larger output throws `OutputLimitError`
   * before the memory is spent, so a decompression bomb costs nothing.
   * @default 67108864 (64 MiB)
   */
  maxOutputBytes?: number
}

/** Cancellation for the async variants. */
export interface AsyncCodecOptions {
  /** Cancels the work if it has not started on the thread pool yet. */
  signal?: AbortSignal
}

/** Defaults of every {@link Compressor} option. */
export const COMPRESSOR_DEFAULTS = Object.freeze({
  level: 3,
  maxOutputBytes: 64 * 1024 * 1024,
})

/**
 * Inputs and outputs up to this size go through one reused scratch buffer: the native
 * side then only returns a length, and JavaScript copies the result into a pooled
 * Buffer. Creating a Buffer on the native side costs more than compressing a small
 * payload (see BENCHMARKING.md), so only larger results are allocated natively.
 */
const SCRATCH_BYTES = 32 * 1024

/** zstd's worst case for 31 KiB is 31,916 bytes (ZSTD_COMPRESSBOUND), so it fits the scratch. */
const SCRATCH_INPUT_BYTES = 31 * 1024

/**
 * Async calls on inputs up to this size run inline and return a settled promise: a trip
 * through the libuv pool costs 35–50 µs here, more than compressing 16 KiB of JSON
 * (benchmark/results/zstd.json). Decompression inlines only outputs that fit the scratch.
 */
const ASYNC_INLINE_BYTES = 16 * 1024

let scratch: Buffer | undefined

function scratchBuffer(): Buffer {
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
  return scratch
}

function toBytes(input: unknown, what: string): Uint8Array {
  if (input instanceof Uint8Array) return input
  if (typeof input === 'string') return Buffer.from(input, 'utf8')
  throw new InvalidArgumentError(`${what} must be a Buffer, Uint8Array or string, got ${describe(input)}`)
}

function toCompressed(input: unknown): Uint8Array {
  if (input instanceof Uint8Array) return input
  throw new InvalidArgumentError(`compressed input must be a Buffer or Uint8Array, got ${describe(input)}`)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return value.constructor?.name ?? 'object'
  return typeof value === 'string' ? `"${value}"` : `${typeof value} ${String(value)}`
}

function checkAlgorithm(algorithm: unknown): asserts algorithm is CompressionAlgorithm {
  if (algorithm !== 'zstd') {
    throw new InvalidArgumentError(`algorithm must be 'zstd', got ${describe(algorithm)}`)
  }
}

function levelOf(options: CompressOptions | undefined): number {
  const level = options?.level ?? COMPRESSOR_DEFAULTS.level
  if (!Number.isInteger(level)) {
    throw new InvalidArgumentError(`level must be an integer, got ${describe(level)}`)
  }
  return level
}

function maxOutputOf(options: DecompressOptions | undefined): number {
  const max = options?.maxOutputBytes ?? COMPRESSOR_DEFAULTS.maxOutputBytes
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new InvalidArgumentError(`maxOutputBytes must be a non-negative integer, got ${describe(max)}`)
  }
  return max
}

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal === undefined) return
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
  // napi-rs only listens for a future 'abort'; an already aborted signal must stop here.
  if (signal.aborted) throw new AbortError('the operation was aborted', { cause: signal.reason })
}

function copyOut(source: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  source.copy(out, 0, 0, length)
  return out
}

function compressScratch(bytes: Uint8Array, level: number): Buffer {
  const out = scratchBuffer()
  return copyOut(out, native.zstdCompressInto(bytes, out, level))
}

/**
 * Compression codecs implemented in Rust. Synchronous calls suit small payloads; the
 * `*Async` variants run on the libuv thread pool and keep the event loop free.
 *
 * @example
 * ```ts
 * const packed = Compressor.compress(Buffer.from('hello'), 'zstd', { level: 3 })
 * const plain = Compressor.decompress(packed, 'zstd') // <Buffer 68 65 6c 6c 6f>
 * ```
 */
export class Compressor {
  private constructor() {}

  /** Compresses `input` synchronously. Strings are encoded as UTF-8. */
  static compress(input: Uint8Array | string, algorithm: CompressionAlgorithm, options?: CompressOptions): Buffer {
    checkAlgorithm(algorithm)
    const bytes = toBytes(input, 'input')
    const level = levelOf(options)
    try {
      return bytes.length <= SCRATCH_INPUT_BYTES ? compressScratch(bytes, level) : native.zstdCompress(bytes, level)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Decompresses `input` synchronously, refusing outputs above `maxOutputBytes`. */
  static decompress(input: Uint8Array, algorithm: CompressionAlgorithm, options?: DecompressOptions): Buffer {
    checkAlgorithm(algorithm)
    const bytes = toCompressed(input)
    const max = maxOutputOf(options)
    try {
      const out = scratchBuffer()
      const length = native.zstdDecompressInto(bytes, out, max)
      return length >= 0 ? copyOut(out, length) : native.zstdDecompress(bytes, max)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /**
   * Compresses on the libuv thread pool. The input must not be modified until the
   * promise settles.
   */
  static async compressAsync(
    input: Uint8Array | string,
    algorithm: CompressionAlgorithm,
    options?: CompressOptions & AsyncCodecOptions,
  ): Promise<Buffer> {
    checkAlgorithm(algorithm)
    const bytes = toBytes(input, 'input')
    const level = levelOf(options)
    checkSignal(options?.signal)
    try {
      if (bytes.length <= ASYNC_INLINE_BYTES) return compressScratch(bytes, level)
      return await native.zstdCompressAsync(bytes, level, options?.signal)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /**
   * Decompresses on the libuv thread pool, refusing outputs above `maxOutputBytes`.
   * The input must not be modified until the promise settles.
   */
  static async decompressAsync(
    input: Uint8Array,
    algorithm: CompressionAlgorithm,
    options?: DecompressOptions & AsyncCodecOptions,
  ): Promise<Buffer> {
    checkAlgorithm(algorithm)
    const bytes = toCompressed(input)
    const max = maxOutputOf(options)
    checkSignal(options?.signal)
    try {
      if (bytes.length <= ASYNC_INLINE_BYTES) {
        const out = scratchBuffer()
        const length = native.zstdDecompressInto(bytes, out, max)
        if (length >= 0) return copyOut(out, length)
      }
      return await native.zstdDecompressAsync(bytes, max, options?.signal)
    } catch (err) {
      throw fromNativeError(err)
    }
  }
}
