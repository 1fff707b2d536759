import type { IncomingMessage } from 'node:http'

import { isFronted } from '../core/peer-address'
import type { PublishedHit } from '../front/native-front'
import { cacheKeyUrl } from './cached-path'
import type { FastHit, FastHits } from './fast-hits'
import type { GatewayOutcome } from './gateway-metrics'
import { lastModifiedMs, storedEntityTag, type HttpResponseStore } from './http-cache'

/** What the gateway needs of a native front it publishes hits to (`NativeFront`). @internal */
export interface HitPublisher {
  publish(hit: PublishedHit): void
  /** From now on every request goes to the gateway. */
  setClosing(): void
  /** Whether it applies the gateway's rate limit (given as `Gateway.nativeRateLimit()`) to its hits. */
  readonly limits: boolean
  /**
   * `hits`: requests the front answered itself; `limited`: hits it refused with 429; `shed`:
   * requests it refused with 503 past the gateway's bound on requests in flight.
   */
  stats(): { hits: number; limited: number; shed: number }
}

/** What a gateway publishes hits from: the fast-hit finder over its response store. @internal */
export interface HitSource {
  fastHits: FastHits
  store: HttpResponseStore
}

/**
 * The gateway's side of a native front: the hits it publishes to the front (with a
 * {@link HitSource}), for requests that came through it, and the front's answers counted as
 * the gateway's.
 * @internal
 */
export class FrontLink {
  constructor(
    private readonly front: HitPublisher,
    private readonly hits: HitSource | undefined,
  ) {}

  /** After the gateway answered `req` with `hit`: the front answers such requests from now on. */
  answered(req: IncomingMessage, hit: FastHit): void {
    if (this.hits !== undefined && isFronted(req)) this.publish(req, hit, this.hits)
  }

  /**
   * A response stored (or a coding added to it) for `req`: published at once when it
   * answers plain requests like that one (same target and `Accept-Encoding`) as a fresh
   * hit, so the front answers the next such request itself.
   */
  stored(req: IncomingMessage): void {
    if (this.hits === undefined || !isFronted(req)) return
    const hit = this.hits.fastHits.findPlain(req, Date.now())
    if (hit !== undefined) this.publish(req, hit, this.hits)
  }

  /** Adds the front's own answers to the gateway's `counts`. */
  addCounts(counts: Record<GatewayOutcome, number>): void {
    const { hits, limited, shed } = this.front.stats()
    counts.hit += hits
    counts.limited += limited
    counts.shed += shed
  }

  setClosing(): void {
    this.front.setClosing()
  }

  /**
   * Hands the front `hit`, with the keys of its records in L2, which the front reads to tell
   * that the response is still the stored one. A response that varies goes with the
   * request's values of the fields it varies on: the front answers requests with the same
   * values (it refuses a repeated field, which Node would have joined).
   */
  private publish(req: IncomingMessage, hit: FastHit, { store }: HitSource): void {
    const { stored } = hit
    if (req.url === undefined) return
    const varyValues: (string | null)[] = []
    for (const name of stored.varyNames) {
      const value = req.headers[name]
      if (Array.isArray(value)) return
      varyValues.push(value ?? null)
    }
    const etag = storedEntityTag(stored)
    // The front compares a request's tags as bytes; a tag beyond ASCII would be other bytes there.
    if (etag !== undefined && !/^[\x20-\x7e]*$/.test(etag)) return
    const keys = store.recordKeys({ method: 'GET', url: cacheKeyUrl(req.url), headers: req.headers })
    try {
      this.front.publish({
        target: req.url,
        acceptEncoding: req.headers['accept-encoding'],
        l2Key: keys.record,
        requestTime: stored.requestTime,
        responseTime: stored.responseTime,
        freshUntil: hit.freshUntil,
        initialAgeMs: hit.initialAgeMs,
        status: stored.status,
        headOnly: stored.headOnly,
        fields: [...hit.form.fields],
        body: hit.form.body,
        etag,
        lastModifiedMs: lastModifiedMs(stored),
        notModifiedFields: [...hit.form.notModifiedFields],
        varyNames: [...stored.varyNames],
        varyValues,
        varyIndexKey: keys.varyIndex,
      })
    } catch {
      // A hit the front refuses (larger than its budget) goes on being answered by the gateway.
    }
  }
}
