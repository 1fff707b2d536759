import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { RateLimiter } from './rate-limiter'

/** The limiters open in this thread; each adds itself on construction and leaves on close. */
export const openLimiters = new OpenInstances<RateLimiter>()

type Series = { labels: { limiter: string; source?: string; outcome?: string }; value: number }[]

/**
 * The `ratelimit` component of `MetricsCollector`: decisions of every open
 * {@link RateLimiter} by deciding source (local, redis, fallback mode) and outcome, Redis
 * outages met, and keys tracked by local stores; read at scrape time.
 * @internal
 */
function rateLimitMetrics(): ComponentRegistration {
  return {
    metrics: {
      decisions_total: {
        type: 'counter',
        help: 'Rate-limit decisions by limiter, deciding source (local, redis, fallback mode) and outcome.',
        labelNames: ['limiter', 'source', 'outcome'],
      },
      redis_unavailable_total: {
        type: 'counter',
        help: 'Decisions for which Redis could not answer and the fallback decided.',
        labelNames: ['limiter'],
      },
      keys: { type: 'gauge', help: 'Keys tracked by each local rate-limit store.', labelNames: ['limiter'] },
    },
    collect: () => {
      const decisions: Series = []
      const unavailable: Series = []
      const keys: Series = []
      for (const limiter of openLimiters) {
        const { mode, redis, fallback, local, adaptive } = limiter.stats()
        const name = limiter.name
        const count = (source: string, outcome: string, value: number): void => {
          if (value > 0) decisions.push({ labels: { limiter: name, source, outcome }, value })
        }
        if (mode === 'redis') {
          count('redis', 'allowed', redis.allowed)
          count('redis', 'denied', redis.denied)
          count('fallback-local', 'decided', fallback.local)
          count('fallback-open', 'allowed', fallback.failOpen)
          count('fallback-closed', 'denied', fallback.failClosed)
          unavailable.push({ labels: { limiter: name }, value: redis.unavailable })
        } else if (local !== undefined) {
          count('local', 'allowed', local.allowed)
          count('local', 'denied', local.denied)
          count('local', 'rejected-at-cap', local.rejectedAtCap)
        } else if (adaptive !== undefined) {
          count('adaptive', 'allowed', adaptive.allowed)
          count('adaptive', 'denied', adaptive.denied)
          count('adaptive', 'breaker-rejected', adaptive.breakerRejections)
        }
        const tracked = local?.keys ?? adaptive?.keys
        if (tracked !== undefined) keys.push({ labels: { limiter: name }, value: tracked })
      }
      return { decisions_total: decisions, redis_unavailable_total: unavailable, keys }
    },
  }
}

reportComponentMetrics('ratelimit', rateLimitMetrics())
