import type { IncomingMessage } from 'node:http'

import { isFronted } from '../core/peer-address'
import type { PublishedResult } from '../front/native-front'
import type { LayerOutcome } from './layer-metrics'

/** What a layer needs of a native front it publishes its handler's answers to (`NativeFront`). @internal */
export interface ResultPublisher {
  publishResult(result: PublishedResult): boolean
  /** Drops everything published: the next requests reach the handler. */
  clear(): void
  /** `processHits`: requests the front answered from published results; `processLimited`: those it refused with 429. */
  stats(): { processHits: number; processLimited: number }
}

/** One answer of the handler, as it was sent. */
export interface SentAnswer {
  userKey: string
  /** The request body the data was decoded from. */
  body: Buffer
  /** The result's cache key. */
  cacheKey: string
  /** The response's fields, `X-Request-Id` aside. */
  fields: Record<string, string | number>
  response: Buffer
}

/**
 * The layer's side of a native front: each answer of its handler to a request that came
 * through the front is published, so the front answers equal requests itself while the
 * result's record stays in the cache's L2 store; the front's answers count as the layer's.
 * @internal
 */
export class FrontResults {
  private closed = false

  constructor(private readonly front: ResultPublisher) {}

  /** After the handler answered `req` with `answer` (200). */
  answered(req: IncomingMessage, answer: SentAnswer): void {
    if (this.closed || !isFronted(req)) return
    const { headers } = req
    try {
      this.front.publishResult({
        user: answer.userKey,
        contentType: headers['content-type'],
        accept: headers.accept,
        acceptEncoding: headers['accept-encoding'],
        body: answer.body,
        l2Key: answer.cacheKey,
        fields: Object.entries(answer.fields).flatMap(([name, value]) => [name, String(value)]),
        response: answer.response,
      })
    } catch {
      // An answer the front refuses (larger than its budget) goes on being made by the handler.
    }
  }

  /** Adds the front's answers to the layer's `counts`. */
  addCounts(counts: Record<LayerOutcome, number>): void {
    const { processHits, processLimited } = this.front.stats()
    counts.hit += processHits
    counts.limited += processLimited
  }

  /** The layer is stopping: nothing more is published, and what was goes. */
  close(): void {
    this.closed = true
    this.front.clear()
  }
}
