import type { TrackedBorrow } from './leak-detector'

/** Why a resource was destroyed, as given to the `'destroy'` event. */
export type DestroyReason =
  /** Idle above `min` for longer than `idleTimeoutMs`. */
  | 'idle'
  /** Older than its `maxLifetimeMs`. */
  | 'lifetime'
  /** Failed validation (on borrow or keep-alive). */
  | 'validation'
  /** `use(fn)` threw and `destroyOnError` said so. */
  | 'error'
  /** `pool.destroy(r)` was called. */
  | 'destroyed'
  /** The pool was drained or closed. */
  | 'closed'
  /** A `create()` that had timed out delivered its resource late. */
  | 'late'

// Entry states. Numbers, not strings: compared on every acquire and release.
/** @internal */
export const IDLE = 0
/** @internal */
export const BORROWED = 1
/** @internal */
export const VALIDATING = 2
/** Destroyed and forgotten. @internal */
export const GONE = 3
/** Destroyed by close() while borrowed: still in the map so that its late release() is ignored. @internal */
export const EVICTED = 4

/** The pool's record of one resource. Fields of the hot path first, one shape for all. @internal */
export class PoolEntry<T> implements TrackedBorrow {
  state = IDLE
  borrowedAt = 0
  /** When it last came back (or was created): idle time counts from here. */
  idleSince: number
  /** When it was last known to work: returned, created or validated. */
  aliveAt: number
  trace: object | undefined = undefined
  leakReported = false
  /** Past its lifetime while borrowed or validating: destroyed as soon as it is back. */
  retiring = false
  retireTimer: NodeJS.Timeout | undefined = undefined

  constructor(
    readonly id: number,
    readonly resource: T,
    now: number,
  ) {
    this.idleSince = now
    this.aliveAt = now
  }
}
