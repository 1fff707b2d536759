import { ClosedError, fromNativeError } from '../core/errors'
import { native } from '../core/native'
import { HEADER_BYTES } from './record'

/** Options of the L2 tier: the native off-heap store. */
export interface L2Options {
  /** Budget in bytes: every entry costs its key + value + 96 bytes. @default 256 MiB */
  maxBytes?: number
  /** Independently locked shards, a power of two up to 1,024. @default 64 */
  shards?: number
  /** Expected bytes an entry, which sizes the admission policy's memory of evicted keys. @default 256 */
  estimatedEntryBytes?: number
  /** Worker threads of one process that open the same name (and options) share one store. */
  name?: string
  /** Cap on how long an entry stays in L2, below the entry's own TTL. @default 0 (no cap) */
  ttlMs?: number
}

/** Defaults of {@link L2Options}. */
export const L2_DEFAULTS = Object.freeze({ maxBytes: 256 * 1024 * 1024, shards: 64, estimatedEntryBytes: 256 })

type Operations = ReturnType<InstanceType<typeof native.NativeCache>['operations']>

/**
 * Counters of the L2 store, shared by every thread that opened it: hits, misses, inserts,
 * evictions, rejected (dropped by the admission policy before a second access), expired,
 * bytes, entries, maxBytes.
 */
export type L2Stats = ReturnType<InstanceType<typeof native.NativeCache>['stats']>

/**
 * The native store with JavaScript-side views: a hit is copied into `view` and read there,
 * so no Buffer or object is created natively per call (see `crates/node/src/cache.rs`).
 * @internal
 */
export class NativeStore {
  private readonly store: InstanceType<typeof native.NativeCache>
  private readonly ops: Operations
  /** Bytes of the latest hit(s), a Buffer over native memory; valid until the next call. */
  view: Buffer
  private lengths: Float64Array
  /** Checked before every operation: a closed store's native handle is never used. */
  private closed = false

  constructor(options: L2Options, maxKeyLength: number) {
    try {
      this.store = new native.NativeCache({
        maxBytes: options.maxBytes ?? L2_DEFAULTS.maxBytes,
        shards: options.shards ?? L2_DEFAULTS.shards,
        maxKeyLength,
        estimatedEntryBytes: options.estimatedEntryBytes ?? L2_DEFAULTS.estimatedEntryBytes,
        name: options.name,
      })
    } catch (err) {
      throw fromNativeError(err)
    }
    this.ops = this.store.operations()
    this.view = asBuffer(this.store.valueView(0))
    this.lengths = this.store.lengthView(0)
  }

  /** The native store object, for native components that read it directly (the HTTP front). */
  get native(): unknown {
    return this.store
  }

  /** Length of the record of `key` now in `view` (from offset 0), or −1 on a miss. */
  get(key: string): number {
    this.checkOpen()
    let len: number
    try {
      len = this.ops.get(key)
      if (len > this.view.length) {
        this.grow(len)
        len = this.ops.get(key)
        // Replaced by a longer value in between (another thread): read it next time.
        if (len > this.view.length) return -1
      }
    } catch (err) {
      throw fromNativeError(err)
    }
    return len
  }

  /**
   * Looks up `keys` in one crossing. The records of the hits lie back to back in `view`, in
   * key order; the returned lengths (−1 for a miss) locate them. Both are valid until the
   * next call. `undefined` when another thread made the values outgrow the view in between.
   */
  getMany(keys: readonly string[]): Float64Array | undefined {
    this.checkOpen()
    try {
      if (keys.length > this.lengths.length) this.lengths = this.store.lengthView(keys.length)
      let needed = this.ops.getMany(keys as string[])
      if (needed > this.view.length) {
        this.grow(needed)
        needed = this.ops.getMany(keys as string[])
        if (needed > this.view.length) return undefined
      }
    } catch (err) {
      throw fromNativeError(err)
    }
    return this.lengths
  }

  /** Stores record bytes; `ttlMs` 0 keeps them until evicted. */
  set(key: string, record: Uint8Array, ttlMs: number): void {
    this.checkOpen()
    try {
      this.ops.set(key, record, ttlMs)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  delete(key: string): boolean {
    this.checkOpen()
    try {
      return this.ops.delete(key)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  has(key: string): boolean {
    this.checkOpen()
    try {
      return this.ops.has(key)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Nothing to clear once closed: a late invalidation flush may still ask. */
  clear(): void {
    if (this.closed) return
    this.store.clear()
  }

  /** The largest record (with its key) one entry may hold. */
  maxEntryBytes(): number {
    return this.store.maxEntryBytes() - HEADER_BYTES
  }

  stats(): L2Stats {
    return this.store.stats()
  }

  close(): void {
    this.closed = true
    this.store.close()
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('the L2 store is closed')
  }

  private grow(min: number): void {
    this.view = asBuffer(this.store.valueView(min))
  }
}

function asBuffer(view: Uint8Array): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}
