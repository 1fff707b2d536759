import { InvalidArgumentError } from '../core/errors'

/**
 * Throws {@link InvalidArgumentError} unless `key` is a non-empty string of at most
 * `maxKeyLength` UTF-8 bytes: the rule of every limiter, local, adaptive or Redis, with the
 * native store's wording.
 */
export function checkKey(key: unknown, maxKeyLength: number): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError('invalid key: expected a non-empty string')
  }
  // A UTF-16 unit is 1 to 3 UTF-8 bytes, so most keys are decided without measuring.
  if (key.length * 3 <= maxKeyLength) return
  const bytes = Buffer.byteLength(key)
  if (bytes > maxKeyLength) {
    throw new InvalidArgumentError(
      `invalid key: expected at most ${maxKeyLength} bytes, got ${bytes} bytes (raise maxKeyLength to accept it)`,
    )
  }
}
