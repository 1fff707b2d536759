import { InvalidArgumentError } from './errors'

/**
 * A whole-number option in [min, max], or `fallback` when it is absent (and one is given).
 * Throws `InvalidArgumentError` naming the option otherwise.
 * @internal
 */
export function wholeNumber(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
    throw new InvalidArgumentError(`invalid ${name}: expected a whole number ${range}, got ${String(value)}`)
  }
  return value
}

/**
 * A number option (fractions allowed) in [min, max], or `fallback` when it is absent (and
 * one is given). Rejects NaN, ±Infinity and non-numbers. `unit` names what the number
 * counts in the message ("a number of milliseconds from 0 to …").
 * @internal
 */
export function numberInRange(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback?: number,
  unit?: string,
): number {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    const what = unit === undefined ? 'a number' : `a number of ${unit}`
    throw new InvalidArgumentError(`invalid ${name}: expected ${what} from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}
