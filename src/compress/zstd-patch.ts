import { fromNativeError } from '../core/errors'
import { native } from '../core/native'
import { optionalInteger, toBytes, toCompressed } from './algorithms'
import { outputLimit } from './compressor'
import { knownOptions } from '../core/validate'

/**
 * Reference-based delta compression with zstd (the `zstd --patch-from` idea): a new
 * version of a document is encoded against an old one both sides hold, so a small edit to
 * a large payload costs a few bytes to ship or store.
 *
 * @example
 * ```ts
 * const patch = ZstdPatch.create(nextVersion, previousVersion)
 * const rebuilt = ZstdPatch.apply(patch, previousVersion) // equals nextVersion
 * ```
 */
export const ZstdPatch = Object.freeze({
  /** Encodes `next` against `reference`. @param options.level zstd level, default 3 */
  create(next: Uint8Array | string, reference: Uint8Array | string, options: { level?: number } = {}): Buffer {
    knownOptions('options', options, ['level'])
    const level = optionalInteger(options.level, 'level') ?? 3
    try {
      return native.zstdCompressPatch(toBytes(next, 'next'), toBytes(reference, 'reference'), level)
    } catch (err) {
      throw fromNativeError(err)
    }
  },

  /** Rebuilds the new version from `patch` and the same `reference`, bounded by `maxOutputBytes`. */
  apply(patch: Uint8Array, reference: Uint8Array | string, options: { maxOutputBytes?: number } = {}): Buffer {
    knownOptions('options', options, ['maxOutputBytes'])
    const max = outputLimit(options.maxOutputBytes)
    try {
      return native.zstdDecompressPatch(toCompressed(patch), toBytes(reference, 'reference'), max)
    } catch (err) {
      throw fromNativeError(err)
    }
  },
})
