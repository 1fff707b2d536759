import type { BackoffOptions } from '../types'

/**
 * Delay before retry `retry` (1-based): `min(maxMs, initialMs × factor^(retry−1))`, then
 * jittered as `jitter` says (`random` returns a number in [0, 1)).
 * @internal
 */
export function backoffDelay(retry: number, options: Required<BackoffOptions>, random = Math.random): number {
  const { initialMs, maxMs, factor, jitter } = options
  const delay = Math.min(maxMs, initialMs * factor ** Math.max(0, retry - 1))
  switch (jitter) {
    case 'none':
      return Math.round(delay)
    case 'equal':
      return Math.round(delay / 2 + random() * (delay / 2))
    case 'full':
      return Math.round(random() * delay)
  }
}
