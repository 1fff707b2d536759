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
 * The longest delay Node's timers hold (2^31−1 ms, about 24.8 days): a longer one (but
 * Infinity) fires after 1 ms instead, with only a warning.
 * @internal
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A validated duration as timers take it: one no timer can hold (above {@link MAX_TIMER_MS})
 * means none, `Infinity`, rather than a timeout that fires at once.
 * @internal
 */
export function timerDuration(ms: number): number {
  return ms > MAX_TIMER_MS ? Infinity : ms
}
