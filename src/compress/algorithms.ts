import { AbortError, InvalidArgumentError } from '../core/errors'
import { invalidOption } from '../core/validate'
import { native } from '../core/native'

/**
 * Codec names, the HTTP `Content-Encoding` tokens where one exists: `deflate` is the
 * zlib-wrapped form HTTP means by it, `deflate-raw` the bare RFC 1951 stream, `br` brotli,
 * `snappy` the raw block format (`{ framed: true }` selects the framing format), `lz4` the
 * lz4 frame format.
 */
export type CompressionAlgorithm = 'gzip' | 'deflate' | 'deflate-raw' | 'snappy' | 'zstd' | 'br' | 'lz4'

/** Every algorithm name, for validation and iteration. */
export const COMPRESSION_ALGORITHMS: readonly CompressionAlgorithm[] = Object.freeze([
  'gzip',
  'deflate',
  'deflate-raw',
  'snappy',
  'zstd',
  'br',
  'lz4',
])

/** The native binding's codec selector (a number). @internal */
export type NativeCodec = (typeof native.Codec)[keyof typeof native.Codec]

const nativeCodecs: Record<CompressionAlgorithm, NativeCodec> = {
  gzip: native.Codec.Gzip,
  deflate: native.Codec.Deflate,
  'deflate-raw': native.Codec.DeflateRaw,
  snappy: native.Codec.Snappy,
  zstd: native.Codec.Zstd,
  br: native.Codec.Brotli,
  lz4: native.Codec.Lz4,
}

/** @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return value.constructor?.name ?? 'object'
  return typeof value === 'string' ? `"${value}"` : `${typeof value} ${String(value)}`
}

/** Resolves an algorithm name (and snappy's `framed`) to the native selector. @internal */
export function nativeCodec(algorithm: unknown, framed: boolean | undefined): NativeCodec {
  const codec = nativeCodecs[algorithm as CompressionAlgorithm]
  if (codec === undefined || !Object.hasOwn(nativeCodecs, algorithm as string)) {
    throw new InvalidArgumentError(
      `algorithm must be one of ${COMPRESSION_ALGORITHMS.join(', ')}, got ${describe(algorithm)}`,
    )
  }
  return framed === true && algorithm === 'snappy' ? native.Codec.SnappyFramed : codec
}

/** @internal */
export function toBytes(input: unknown, what: string): Uint8Array {
  if (input instanceof Uint8Array) return input
  if (typeof input === 'string') return Buffer.from(input, 'utf8')
  throw new InvalidArgumentError(`${what} must be a Buffer, Uint8Array or string, got ${describe(input)}`)
}

/** @internal */
export function toCompressed(input: unknown): Uint8Array {
  if (input instanceof Uint8Array) return input
  throw new InvalidArgumentError(`compressed input must be a Buffer or Uint8Array, got ${describe(input)}`)
}

/** An optional integer option; the native side checks each codec's own range. @internal */
export function optionalInteger(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  // Any integer: the codec knows its own range (zstd takes negative levels).
  if (!Number.isInteger(value)) throw invalidOption(name, 'an integer', describe(value))
  return value as number
}

/** @internal */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
  // napi-rs only listens for a future 'abort'; an already aborted signal must stop here.
  if (signal.aborted) throw new AbortError('the operation was aborted', { cause: signal.reason })
  return signal
}
