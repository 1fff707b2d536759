import { InvalidArgumentError } from './errors'

/**
 * The one message format of option checks: `invalid <name>: expected <what>, got <value>`.
 * For checks no helper here covers, so their errors read like the others.
 * @internal
 */
export function invalidOption(name: string, expected: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`invalid ${name}: expected ${expected}, got ${String(value)}`)
}

/**
 * A whole-number option in [min, max] (`Infinity` too when `infinite`), or `fallback` when it
 * is absent (and one is given); `fallback` alone may be passed in place of the options.
 * Throws `InvalidArgumentError` naming the option otherwise.
 * @internal
 */
export function wholeNumber(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
  options: number | { fallback?: number; infinite?: boolean } = {},
): number {
  const { fallback, infinite } = typeof options === 'number' ? { fallback: options, infinite: false } : options
  if (value === undefined && fallback !== undefined) return fallback
  if (infinite === true && value === Infinity) return value
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
    throw invalidOption(name, `a whole number ${range}${infinite === true ? ' or Infinity' : ''}`, value)
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

/** How {@link numberInRange} reads its bounds and what it accepts besides. @internal */
export interface NumberRangeOptions {
  /** Returned when the option is absent. */
  fallback?: number
  /** What the number counts, for the message ("a number of milliseconds …"). */
  unit?: string
  /** `Infinity` is accepted too. */
  infinite?: boolean
  /** `min` itself is refused: the number must be above it. */
  above?: boolean
  /** `max` itself is refused: the number must be below it. */
  below?: boolean
  /** 0 or `Infinity` means "off" and either is returned as `Infinity`. */
  off?: boolean
}

/**
 * A number option (fractions allowed) in [min, max] (bounds exclusive with `above` / `below`;
 * `Infinity` too when `infinite`; 0 or Infinity as Infinity when `off`), or `fallback` when it
 * is absent and one is given. Rejects NaN and non-numbers.
 * @internal
 */
export function numberInRange(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_VALUE,
  options: NumberRangeOptions = {},
): number {
  if (value === undefined && options.fallback !== undefined) return options.fallback
  if (options.off === true && (value === 0 || value === Infinity)) return Infinity
  const ok =
    typeof value === 'number' &&
    (options.above === true ? value > min : value >= min) &&
    (Number.isFinite(value)
      ? options.below === true
        ? value < max
        : value <= max
      : options.infinite === true && value === Infinity)
  if (!ok) {
    const what = options.unit === undefined ? 'a number' : `a number of ${options.unit}`
    const lower = options.above === true ? `above ${min}` : `at least ${min}`
    const upper = options.below === true ? `below ${max}` : `at most ${max}`
    const range =
      max === Number.MAX_VALUE
        ? options.above === true
          ? lower
          : `of ${lower}`
        : options.above === true || options.below === true
          ? `${lower} and ${upper}`
          : `from ${min} to ${max}`
    const besides =
      options.off === true ? ', or 0 or Infinity for off' : options.infinite === true ? ' or Infinity' : ''
    throw invalidOption(name, `${what} ${range}${besides}`, value)
  }
  return value as number
}

/**
 * A duration in ms a timer can hold, above 0 and at most {@link MAX_TIMER_MS} (`Infinity` too
 * when `infinite`): unlike {@link timeoutDuration}, a longer one is refused, for durations
 * where "for ever" is not what a huge number means.
 * @internal
 */
export function timerMs(name: string, value: unknown, infinite = false): number {
  return numberInRange(name, value, 0, MAX_TIMER_MS, { above: true, infinite, unit: 'milliseconds' })
}

/**
 * A duration in ms where 0 or `Infinity` turns the feature off (returned as `Infinity`);
 * otherwise above 0 and at most {@link MAX_TIMER_MS}.
 * @internal
 */
export function offDuration(name: string, value: unknown): number {
  return numberInRange(name, value, 0, MAX_TIMER_MS, { above: true, off: true, unit: 'milliseconds' })
}

/**
 * A number above 0 (`Infinity` too when `infinite`). Throws `InvalidArgumentError` naming
 * the option otherwise.
 * @internal
 */
export function positiveNumber(name: string, value: unknown, infinite = false, unit?: string): number {
  return numberInRange(name, value, 0, Number.MAX_VALUE, { above: true, infinite, unit })
}

/**
 * A boolean option, or `fallback` when it is absent. Throws `InvalidArgumentError` naming
 * the option otherwise.
 * @internal
 */
export function booleanOption(name: string, value: unknown, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value)
  return value
}

/**
 * An option that also goes by a familiar alias (lru-cache's `max`, `ttl`): the name that was
 * given (ours when neither was) and its value, for the caller's check to name it. Both at once
 * are refused, even when equal, since one of them is a leftover.
 * @internal
 */
export function aliasedOption(
  what: string,
  alias: string,
  aliasValue: unknown,
  name: string,
  value: unknown,
): { name: string; value: unknown } {
  if (aliasValue === undefined) return { name, value }
  if (value !== undefined) {
    throw new InvalidArgumentError(`invalid ${what}: ${alias} and ${name} both given; they name one setting`)
  }
  return { name: alias, value: aliasValue }
}

/**
 * Refuses option names that `known` does not list, so a misspelt option (`ttl_ms` for
 * `ttlMs`) is an error instead of a silently ignored setting; the message suggests the
 * nearest known name when one is close.
 * @internal
 */
export function knownOptions(what: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined || options === null) return
  if (typeof options !== 'object') throw invalidOption(what, 'an object', options)
  // A loop rather than Object.keys().filter(): per-call options are checked on hot paths.
  for (const key in options) {
    if (!known.includes(key) && Object.hasOwn(options, key)) {
      const unknown = Object.keys(options).filter((name) => !known.includes(name))
      const hints = unknown.flatMap((name) => {
        const near = closestName(name, known)
        return near === undefined ? [] : [unknown.length > 1 ? `'${near}' for '${name}'` : `'${near}'`]
      })
      const hint = hints.length > 0 ? `; did you mean ${hints.join(', ')}?` : ''
      throw new InvalidArgumentError(
        `invalid ${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}${hint} (known: ${known.join(', ')})`,
      )
    }
  }
}

/**
 * The known name nearest to `name` (a misspelling, a missing unit suffix, another case), or
 * undefined when none is within a third of its length in edits (two at least), so that an
 * unrelated name gets no misleading suggestion.
 */
function closestName(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * The option names of options type `O`, for {@link knownOptions}, from its defaults object
 * plus an entry for each option without a default. The compiler holds the list to the type:
 * an option added to `O` without a default fails to compile until it is listed here, and so
 * does a listed name `O` lacks, so the list cannot drift from the interface.
 *
 * ```ts
 * const POOL_OPTION_NAMES = optionNames<ConnectionPoolOptions<unknown>>()(POOL_DEFAULTS, { create: true })
 * ```
 * @internal
 */
export function optionNames<O extends object>() {
  return <D extends object>(
    defaults: D & { readonly [K in Exclude<keyof D, keyof O>]: never },
    others: { readonly [K in Exclude<keyof O, keyof D>]: true },
  ): readonly string[] => Object.freeze([...Object.keys(defaults), ...Object.keys(others)])
}

/**
 * A function option, or `fallback` when it is absent (`undefined` without one).
 * @internal
 */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: unknown, fallback: F): F
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: unknown): F | undefined
export function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback?: F,
): F | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'function') throw invalidOption(name, 'a function', typeof value)
  return value as F
}

/**
 * The injectable clock of an options object: `now`, the name every component uses, or
 * `clock`, its deprecated name in the monitoring options (accepted for one release; both at
 * once are refused, as one would silently win).
 * @internal
 */
export function nowOption(options: { now?: unknown; clock?: unknown }, fallback: () => number): () => number {
  if (options.now !== undefined && options.clock !== undefined) {
    throw new InvalidArgumentError('invalid clock: the deprecated name of now; give now alone')
  }
  return options.clock !== undefined
    ? functionOption('clock', options.clock, fallback)
    : functionOption('now', options.now, fallback)
}
