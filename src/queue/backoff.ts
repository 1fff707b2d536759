import { InvalidArgumentError } from '../core/errors'
import type { BackoffOptions } from './types'
import { knownOptions, MAX_TIMER_MS, numberInRange, optionNames } from '../core/validate'

/** Defaults of {@link BackoffOptions}: 100 ms doubling to 30 s, full jitter. */
export const BACKOFF_DEFAULTS: Readonly<Required<BackoffOptions>> = Object.freeze({
  initialMs: 100,
  maxMs: 30_000,
  factor: 2,
  jitter: 'full',
})

const OPTION_NAMES = optionNames<BackoffOptions>()(BACKOFF_DEFAULTS, {})

/** Backoff options with every field set and checked. @internal */
export function resolveBackoff(
  options: BackoffOptions | undefined,
  base: Readonly<Required<BackoffOptions>> = BACKOFF_DEFAULTS,
): Readonly<Required<BackoffOptions>> {
  if (options === undefined) return base
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`invalid backoff: expected an object, got ${String(options)}`)
  }
  knownOptions('backoff', options, OPTION_NAMES)
  const ms = { unit: 'milliseconds' }
  const resolved = {
    initialMs: numberInRange('backoff.initialMs', options.initialMs, 0, undefined, { ...ms, fallback: base.initialMs }),
    maxMs: numberInRange('backoff.maxMs', options.maxMs, 0, undefined, { ...ms, fallback: base.maxMs }),
    factor: numberInRange('backoff.factor', options.factor, 1, undefined, { fallback: base.factor }),
    jitter: options.jitter ?? base.jitter,
  }
  if (!['full', 'equal', 'none'].includes(resolved.jitter)) {
    throw new InvalidArgumentError(
      `invalid backoff.jitter: expected full, equal or none, got ${String(resolved.jitter)}`,
    )
  }
  return resolved
}

/**
 * Delay before retry `retry` (1-based): `min(maxMs, initialMs × factor^(retry−1))` (and at
 * most 2^31−1 ms, the longest a timer waits), then
 * jittered (AWS's "full" and "equal" jitter) so that tasks failing together do not retry
 * together. `random` returns a number in [0, 1).
 * @internal
 */
export function backoffDelay(
  retry: number,
  options: Readonly<Required<BackoffOptions>>,
  random: () => number = Math.random,
): number {
  // Capped at what a timer holds: a longer delay would fire at once.
  const delay = Math.min(options.maxMs, MAX_TIMER_MS, options.initialMs * options.factor ** (retry - 1))
  switch (options.jitter) {
    case 'full':
      return random() * delay
    case 'equal':
      return delay / 2 + (random() * delay) / 2
    default:
      return delay
  }
}
