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

/**
 * A timeout option: a number of ms above 0 or `Infinity` (none); one longer than a timer can
 * hold is `Infinity` too (see {@link timerDuration}).
 * @internal
 */
export function timeoutDuration(name: string, value: unknown): number {
  return timerDuration(positiveNumber(name, value, true))
}

/**
 * A number option (fractions allowed) in [min, max] (`Infinity` too when `infinite`), or
 * `fallback` when it is absent and one is given. Rejects NaN and non-numbers; `unit` names
 * what the number counts in the message ("a number of milliseconds from 0 to …").
 * @internal
 */
export function numberInRange(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_VALUE,
  options: { fallback?: number; unit?: string; infinite?: boolean } = {},
): number {
  if (value === undefined && options.fallback !== undefined) return options.fallback
  const ok =
    typeof value === 'number' &&
    value >= min &&
    (Number.isFinite(value) ? value <= max : options.infinite === true && value === Infinity)
  if (!ok) {
    const what = options.unit === undefined ? 'a number' : `a number of ${options.unit}`
    const range = max === Number.MAX_VALUE ? `of at least ${min}` : `from ${min} to ${max}`
    const infinite = options.infinite === true ? ' or Infinity' : ''
    throw new InvalidArgumentError(`invalid ${name}: expected ${what} ${range}${infinite}, got ${String(value)}`)
  }
  return value
}

/**
 * A number above 0 (`Infinity` too when `infinite`). Throws `InvalidArgumentError` naming
 * the option otherwise.
 * @internal
 */
export function positiveNumber(name: string, value: unknown, infinite = false): number {
  if (typeof value !== 'number' || !(value > 0) || (!infinite && !Number.isFinite(value))) {
    const what = infinite ? 'a number above 0 or Infinity' : 'a finite number above 0'
    throw new InvalidArgumentError(`invalid ${name}: expected ${what}, got ${String(value)}`)
  }
  return value
}

/**
 * A boolean option, or `fallback` when it is absent. Throws `InvalidArgumentError` naming
 * the option otherwise.
 * @internal
 */
export function booleanOption(name: string, value: unknown, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`invalid ${name}: expected a boolean, got ${String(value)}`)
  }
  return value
}

/**
 * Refuses option names that `known` does not list, so a misspelt option (`ttl` for
 * `ttlMs`) is an error instead of a silently ignored setting.
 * @internal
 */
export function knownOptions(what: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined || options === null) return
  if (typeof options !== 'object') {
    throw new InvalidArgumentError(`invalid ${what}: expected an object, got ${String(options)}`)
  }
  const unknown = Object.keys(options).filter((key) => !known.includes(key))
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `invalid ${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`,
    )
  }
}
