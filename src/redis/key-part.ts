import { InvalidArgumentError } from '../core/errors'

/**
 * A configured part of a Redis key name (prefix, name): a string without `{` or `}`, so that
 * it cannot open or close the hash tag that decides a key's Cluster slot. `allowEmpty` lets
 * an empty string through (an empty prefix).
 * @internal
 */
export function keyPart(name: string, value: unknown, allowEmpty: boolean): string {
  if (typeof value !== 'string' || (!allowEmpty && value === '') || /[{}]/.test(value)) {
    const what = allowEmpty ? 'a string' : 'a non-empty string'
    throw new InvalidArgumentError(`invalid ${name}: expected ${what} without { or }, got ${String(value)}`)
  }
  return value
}
