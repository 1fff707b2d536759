import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { DistributedCache } from './distributed-cache'

/** The caches open in this thread; each adds itself on construction and leaves on close. */
export const openCaches = new OpenInstances<DistributedCache>()

const byTier = ['cache', 'tier']
const byCache = ['cache']

/**
 * The `cache` component of {@link MetricsCollector}: hits, misses, size and evictions per
 * tier of every open {@link DistributedCache}, plus Redis latency, the stampede and
 * coherence counters and the outage journal, read at scrape time.
 * @internal
 */
function cacheMetrics(): ComponentRegistration {
  const counter = (help: string, labelNames = byTier) => ({ type: 'counter' as const, help, labelNames })
  const gauge = (help: string, labelNames = byTier) => ({ type: 'gauge' as const, help, labelNames })
  return {
    metrics: {
      hits_total: counter('Lookups answered by the tier.'),
      misses_total: counter('Lookups the tier could not answer.'),
      evictions_total: counter('Entries evicted to make room (L2: including admission rejections).'),
      entries: gauge('Entries held by the tier.'),
      bytes: gauge('Bytes held by L2 (key + value + overhead).', byCache),
      redis_errors_total: counter('Redis calls that failed or were skipped during an outage.', byCache),
      redis_available: gauge('1 while Redis answers, 0 during an outage.', byCache),
      redis_latency_p99_seconds: gauge('99th percentile of Redis call latency.', byCache),
      loads_total: counter('Loader calls.', byCache),
      load_errors_total: counter('Loader calls that threw.', byCache),
      stale_served_total: counter('Stale values served while reloading.', byCache),
      flushes_total: counter('Local tiers flushed because invalidations may have been missed.', byCache),
      outage_journal_pending: gauge('Keys changed while Redis was away, waiting to be replayed to it.', byCache),
      outage_journal_replayed_total: counter('Changes made while Redis was away, replayed to it.', byCache),
      outage_journal_rejected_total: counter('Writes and deletes refused during an outage: journal full.', byCache),
      outage_journal_dropped_total: counter(
        'Loaded values cached only locally during an outage (journal full), and changes pending at close.',
        byCache,
      ),
    },
    collect: () => {
      const stats = [...openCaches].map((cache) => cache.stats())
      const tiers = (pick: (tier: { hits: number; misses: number }, s: (typeof stats)[number]) => number) =>
        stats.flatMap((s) =>
          (['l1', 'l2', 'l3'] as const).flatMap((tier) => {
            const t = s[tier]
            return t === undefined ? [] : [{ labels: { cache: s.name, tier }, value: pick(t, s) }]
          }),
        )
      const each = (value: (s: (typeof stats)[number]) => number) =>
        stats.map((s) => ({ labels: { cache: s.name }, value: value(s) }))
      return {
        hits_total: tiers((t) => t.hits),
        misses_total: tiers((t) => t.misses),
        evictions_total: stats.flatMap((s) => [
          ...(s.l1 ? [{ labels: { cache: s.name, tier: 'l1' }, value: s.l1.evictions }] : []),
          ...(s.l2 ? [{ labels: { cache: s.name, tier: 'l2' }, value: s.l2.evictions + s.l2.rejected }] : []),
        ]),
        entries: stats.flatMap((s) => [
          ...(s.l1 ? [{ labels: { cache: s.name, tier: 'l1' }, value: s.l1.entries }] : []),
          ...(s.l2 ? [{ labels: { cache: s.name, tier: 'l2' }, value: s.l2.entries }] : []),
        ]),
        bytes: stats.flatMap((s) => (s.l2 ? [{ labels: { cache: s.name }, value: s.l2.bytes }] : [])),
        redis_errors_total: each((s) => s.l3?.errors ?? 0),
        redis_available: each((s) => (s.l3 === undefined || s.l3.available ? 1 : 0)),
        redis_latency_p99_seconds: each((s) => (s.l3?.latencyMs.p99 ?? 0) / 1000),
        loads_total: each((s) => s.loads),
        load_errors_total: each((s) => s.loadErrors),
        stale_served_total: each((s) => s.staleServed),
        flushes_total: each((s) => s.flushes),
        outage_journal_pending: each((s) => s.outageJournal.pending),
        outage_journal_replayed_total: each((s) => s.outageJournal.replayed),
        outage_journal_rejected_total: each((s) => s.outageJournal.rejected),
        outage_journal_dropped_total: each((s) => s.outageJournal.dropped),
      }
    },
  }
}

reportComponentMetrics('cache', cacheMetrics())
