import type { BackendEntry, BalancerBackend, PickRequest } from '../backend'
import type { CachedClock } from '../../core/cached-clock'

/** Backends a retry must avoid: one handle or a list of them. */
export type PickExclusion = BalancerBackend | readonly BalancerBackend[]

/** What pickers share with their balancer. @internal */
export interface PickerContext {
  readonly random: () => number
  readonly clock: CachedClock
  readonly ewmaDecayMs: number
  readonly virtualNodes: number
}

/**
 * One balancing algorithm. The balancer calls `update` whenever the candidate set changes (state changes, added or
 * removed backends), so that `pick` only reads precomputed arrays and allocates nothing.
 * @internal
 */
export interface Picker {
  /**
   * The candidates changed. `all` is every backend, indexed by slot; `membership` is true when backends were added
   * or removed (not only their states changed).
   */
  update(candidates: readonly BackendEntry[], all: readonly BackendEntry[], membership: boolean): void
  /** Effective weights changed (slow start) while the candidates did not. */
  reweigh?(): void
  /** A candidate, or undefined when there is none. */
  pick(request: PickRequest | undefined): BackendEntry | undefined
  /** A candidate not in `excluded`, or undefined when there is none. Not on the hot path. */
  pickExcluding(request: PickRequest | undefined, excluded: PickExclusion): BackendEntry | undefined
}

/** Whether `entry` is one of `excluded`. @internal */
export function isExcluded(entry: BackendEntry, excluded: PickExclusion): boolean {
  return entry === excluded || (Array.isArray(excluded) && (excluded as readonly BalancerBackend[]).includes(entry))
}
