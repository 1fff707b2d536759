import { fromNativeError, InvalidArgumentError } from '../core/errors'
import { native } from '../core/native'
import { optionalInteger, toBytes, toCompressed } from './algorithms'
import { outputLimit } from './compressor'
import { knownOptions, wholeNumber } from '../core/validate'

/** zstd's own default dictionary size (`zstd --train`): 110 KiB. */
const DEFAULT_DICTIONARY_BYTES = 112_640

/**
 * A zstd dictionary: small payloads that resemble each other (JSON API responses, cache
 * entries) compress several times better with one, since the shared structure lives in
 * the dictionary instead of in every frame. The same dictionary bytes must decompress.
 *
 * @example
 * ```ts
 * const dictionary = ZstdDictionary.train(sampleResponses)
 * const packed = dictionary.compress(JSON.stringify(response))
 * dictionary.decompress(packed)
 * await writeFile('api.dict', dictionary.bytes) // later: new ZstdDictionary(await readFile('api.dict'))
 * ```
 */
export class ZstdDictionary {
  /** Trains a dictionary of at most `maxBytes` from representative samples. */
  static train(samples: ReadonlyArray<Uint8Array | string>, options: { maxBytes?: number } = {}): ZstdDictionary {
    if (!Array.isArray(samples) || samples.length === 0) {
      throw new InvalidArgumentError('samples must be a non-empty array of Buffers or strings')
    }
    knownOptions('options', options, ['maxBytes'])
    const maxBytes = wholeNumber('maxBytes', options.maxBytes, 0, undefined, DEFAULT_DICTIONARY_BYTES)
    try {
      return new ZstdDictionary(
        native.zstdTrainDictionary(
          samples.map((s, i) => toBytes(s, `samples[${i}]`)),
          maxBytes,
        ),
      )
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** @param bytes a dictionary made by {@link ZstdDictionary.train} or `zstd --train` */
  constructor(readonly bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new InvalidArgumentError('dictionary bytes must be a non-empty Buffer or Uint8Array')
    }
  }

  /** Compresses with this dictionary. @param options.level zstd level, default 3 */
  compress(input: Uint8Array | string, options: { level?: number } = {}): Buffer {
    knownOptions('options', options, ['level'])
    const level = optionalInteger(options.level, 'level') ?? 3
    try {
      return native.zstdCompressWithDictionary(toBytes(input, 'input'), this.bytes, level)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Decompresses a frame made with this dictionary, refusing outputs above `maxOutputBytes`. */
  decompress(input: Uint8Array, options: { maxOutputBytes?: number } = {}): Buffer {
    knownOptions('options', options, ['maxOutputBytes'])
    const max = outputLimit(options.maxOutputBytes)
    try {
      return native.zstdDecompressWithDictionary(toCompressed(input), this.bytes, max)
    } catch (err) {
      throw fromNativeError(err)
    }
  }
}
