import { Transform, type TransformCallback, type TransformOptions } from 'node:stream'

import { fromNativeError, InvalidArgumentError } from '../core/errors'
import { native } from '../core/native'
import { describe, nativeCodec, optionalInteger } from './algorithms'
import { recordCodecCall, type CodecOperation } from './codec-stats'
import { outputLimit, type CompressOptions, type DecompressOptions } from './compressor'

/** Algorithms with a streaming form; snappy streams always use the framing format. */
export type StreamAlgorithm = 'zstd' | 'gzip' | 'deflate' | 'deflate-raw' | 'br' | 'lz4' | 'snappy'

const STREAM_ALGORITHMS: ReadonlySet<string> = new Set([
  'zstd',
  'gzip',
  'deflate',
  'deflate-raw',
  'br',
  'lz4',
  'snappy',
])

type NativeStream = ReturnType<typeof native.NativeCodecStream.encoder>

function checkAlgorithm(algorithm: unknown): asserts algorithm is StreamAlgorithm {
  if (!STREAM_ALGORITHMS.has(algorithm as string)) {
    throw new InvalidArgumentError(
      `stream algorithm must be one of ${[...STREAM_ALGORITHMS].join(', ')}, got ${describe(algorithm)}`,
    )
  }
}

/**
 * A Transform that feeds each chunk to a native encoder or decoder on the libuv pool, one
 * step at a time, so back-pressure works as with node:zlib streams. Made by
 * {@link createCompressStream} and {@link createDecompressStream}.
 */
export class CodecStream extends Transform {
  /** @internal */
  constructor(
    private readonly coder: NativeStream,
    private readonly operation: CodecOperation,
    private readonly algorithm: StreamAlgorithm,
    options: TransformOptions | undefined,
  ) {
    super(options)
  }

  /** Settles when the latest native call has: what {@link flushPending} waits for. */
  private inFlight: Promise<void> = Promise.resolve()

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk
    this.step(this.coder.write(bytes), bytes.length, callback)
  }

  override _flush(callback: TransformCallback): void {
    this.step(this.coder.finish(), 0, callback)
  }

  /**
   * Emits what the encoder holds so far as a decodable prefix (useful for server-sent
   * events); resolves once it has been pushed.
   */
  flushPending(): Promise<void> {
    // After the step in flight: a flush started beside a write may run first on the pool,
    // before that write's bytes reached the encoder.
    const flushed = this.inFlight.then(() => this.coder.flush())
    return new Promise((resolve, reject) => this.step(flushed, 0, (err) => (err ? reject(err) : resolve())))
  }

  /**
   * Pushes what `pending` gives, then calls `callback`. The caller starts the native call,
   * so that it takes its input at once (a chunk may be detached right after `write`).
   */
  private step(pending: Promise<Buffer>, bytesIn: number, callback: TransformCallback): void {
    this.inFlight = pending.then(
      () => {},
      () => {},
    )
    pending.then(
      (out) => {
        recordCodecCall(this.operation, this.algorithm, bytesIn, out.length, undefined)
        if (out.length > 0) this.push(out)
        callback()
      },
      (err: unknown) => callback(fromNativeError(err)),
    )
  }
}

/**
 * Creates a Transform stream that compresses what is written to it.
 *
 * @example
 * ```ts
 * await pipeline(createReadStream('big.json'), createCompressStream('zstd', { level: 6 }), createWriteStream('big.json.zst'))
 * ```
 */
export function createCompressStream(
  algorithm: StreamAlgorithm,
  options?: Omit<CompressOptions, 'framed'> & TransformOptions,
): CodecStream {
  checkAlgorithm(algorithm)
  const level = optionalInteger(options?.level, 'level')
  const window = optionalInteger(options?.window, 'window')
  try {
    const coder = native.NativeCodecStream.encoder(nativeCodec(algorithm, true), level, window)
    return new CodecStream(coder, 'compress', algorithm, options)
  } catch (err) {
    throw fromNativeError(err)
  }
}

/**
 * Creates a Transform stream that decompresses what is written to it; the total output
 * is bounded by `maxOutputBytes`, and a truncated input fails the stream with
 * `CorruptInputError`.
 */
export function createDecompressStream(
  algorithm: StreamAlgorithm,
  options?: Omit<DecompressOptions, 'framed'> & TransformOptions,
): CodecStream {
  checkAlgorithm(algorithm)
  const max = outputLimit(options?.maxOutputBytes)
  try {
    const coder = native.NativeCodecStream.decoder(nativeCodec(algorithm, true), max)
    return new CodecStream(coder, 'decompress', algorithm, options)
  } catch (err) {
    throw fromNativeError(err)
  }
}
