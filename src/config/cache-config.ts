import type { DistributedCacheOptions } from '../cache/cache-options'
import type { CacheConfig } from './env'

/** Most entries the L1 tier takes (its `maxEntries` limit). */
const L1_MAX_ENTRIES = 2 ** 24

/**
 * `DistributedCache` options from the `CACHE_*` budgets. L1 holds live JavaScript values and is
 * bounded by an entry count, so its byte budget becomes `l1Bytes / entryBytes` entries (at
 * least one); L2 is the native store, bounded in bytes (each entry costing key + value + 96),
 * so it takes `l2Bytes` as is, with `entryBytes` sizing its admission policy. A budget of 0
 * turns its tier off. The options leave out `redis`: the caller adds its own (the layer adds
 * the shared one).
 */
export function cacheOptionsFromConfig(cache: CacheConfig): Omit<DistributedCacheOptions, 'redis'> {
  return {
    defaultTtlMs: cache.defaultTtlMs,
    maxValueBytes: cache.maxObjectBytes,
    l1:
      cache.l1Bytes === 0
        ? false
        : { maxEntries: Math.min(L1_MAX_ENTRIES, Math.max(1, Math.floor(cache.l1Bytes / cache.entryBytes))) },
    l2: cache.l2Bytes === 0 ? false : { maxBytes: cache.l2Bytes, estimatedEntryBytes: cache.entryBytes },
  }
}
