import { CorruptInputError } from '../core/errors'
import type { CompressionAlgorithm } from './algorithms'
import { COMPRESSOR_DEFAULTS, Compressor } from './compressor'
import type { Serializer } from './serializer'
import { knownOptions, optionNames } from '../core/validate'

/** Options of {@link compressedSerializer}. */
export interface CompressedSerializerOptions {
  /** Codec applied to encoded values. @default 'zstd' */
  algorithm?: CompressionAlgorithm
  /** Codec level. @default the codec's default */
  level?: number
  /** Encoded values smaller than this are stored as they are. @default 512 */
  minBytes?: number
  /** Bound on a decoded value's decompressed size. @default 64 MiB */
  maxOutputBytes?: number
}

/**
 * The first byte of every value says how the rest is stored; the numbers are part of the
 * stored format and never change (0 = stored as is).
 */
const TAGS: Record<CompressionAlgorithm, number> = {
  gzip: 1,
  deflate: 2,
  'deflate-raw': 3,
  snappy: 4,
  zstd: 5,
  br: 6,
  lz4: 7,
}
const STORED = 0
const OPTION_NAMES = optionNames<CompressedSerializerOptions>()(
  {},
  { algorithm: true, level: true, minBytes: true, maxOutputBytes: true },
)
const BY_TAG = new Map<number, CompressionAlgorithm>(
  Object.entries(TAGS).map(([algorithm, tag]) => [tag, algorithm as CompressionAlgorithm]),
)

/**
 * Wraps a serializer so that encoded values above `minBytes` are compressed, each tagged
 * with its codec so that values written with other settings still decode.
 *
 * @example
 * ```ts
 * const values = compressedSerializer(msgpackSerializer(), { algorithm: 'zstd', minBytes: 1024 })
 * values.decode(values.encode({ big: 'x'.repeat(10_000) }))
 * ```
 */
export function compressedSerializer<T>(
  inner: Serializer<T>,
  options: CompressedSerializerOptions = {},
): Serializer<T> {
  knownOptions('compressedSerializer options', options, OPTION_NAMES)
  const algorithm = options.algorithm ?? 'zstd'
  const minBytes = options.minBytes ?? 512
  const maxOutputBytes = options.maxOutputBytes ?? COMPRESSOR_DEFAULTS.maxOutputBytes
  const tag = TAGS[algorithm]
  return {
    name: `${inner.name}+${algorithm}`,
    contentType: inner.contentType,
    encode(value) {
      const plain = inner.encode(value)
      const packed =
        plain.length >= minBytes ? Compressor.compress(plain, algorithm, { level: options.level }) : undefined
      // Keep whichever is smaller: incompressible values stay as they are.
      const [marker, body] = packed !== undefined && packed.length < plain.length ? [tag, packed] : [STORED, plain]
      const out = Buffer.allocUnsafe(body.length + 1)
      out[0] = marker
      body.copy(out, 1)
      return out
    },
    decode(bytes) {
      if (bytes.length === 0) throw new CorruptInputError(`empty ${inner.name} value`)
      const body = bytes.subarray(1)
      if (bytes[0] === STORED) return inner.decode(body)
      const codec = BY_TAG.get(bytes[0] as number)
      if (codec === undefined) throw new CorruptInputError(`unknown compression tag ${String(bytes[0])}`)
      return inner.decode(Compressor.decompress(body, codec, { maxOutputBytes }))
    },
  }
}
