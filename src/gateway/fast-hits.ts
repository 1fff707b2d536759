import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

import { negotiateEncoding, type ContentEncoding } from '../compress/accept-encoding'
import { cacheKeyUrl } from './cached-path'
import { REQUEST_ID_HEADER } from './forwarded-headers'
import {
  currentAgeMs,
  freshUntilMs,
  notModifiedHeaders,
  responseHeaders,
  type HttpResponseStore,
  type StoredResponse,
} from './http-cache'
import type { CompressionSettings } from './relay'
import { codingNegotiable, toHeaders, withCacheFields } from './stored-reply'

/** A stored response as sent in one coding, with every field but the per-request ones. */
interface Form {
  /** Field names and values in one flat list, as `writeHead` takes them; no `Age`, no `X-Request-Id`. */
  readonly fields: readonly string[]
  readonly body: Buffer
  /** The fields of the 304 a matching conditional request gets instead, in the same shape. */
  readonly notModifiedFields: readonly string[]
}

/** What is worked out once per stored response (decoded entries are kept, so their identity lasts). */
interface Prepared {
  /** Fresh before this time (epoch ms) for a request without cache directives. */
  readonly freshUntil: number
  /** Its age (ms) when it arrived; it grows by the time since `responseTime`. */
  readonly initialAgeMs: number
  readonly negotiable: boolean
  /** By coding (`identity` for none), made when first asked for. */
  readonly forms: Map<string, Form>
}

/** A hit ready to send: {@link FastHits.send} writes it. */
export interface FastHit {
  readonly status: number
  readonly form: Form
  /** Whole seconds, the `Age` field. */
  readonly age: number
  /** The stored response it is made from. */
  readonly stored: StoredResponse
  /** Fresh before this time (epoch ms) for a request without cache directives. */
  readonly freshUntil: number
  /** Its age (ms) when it arrived. */
  readonly initialAgeMs: number
}

/**
 * Request fields that ask for more than a plain hit: conditions, ranges, the client's own
 * cache directives. A request with any of them takes the full cached path.
 */
const NOT_PLAIN = ['range', 'cache-control', 'pragma', 'if-none-match', 'if-modified-since'] as const

/** Distinct `Accept-Encoding` values whose choice is remembered (past it the memo starts over), and the longest one. */
const MAX_REMEMBERED_ACCEPTS = 256
const MAX_REMEMBERED_ACCEPT_LENGTH = 256

/**
 * The cache hit answered without a promise: a plain GET or HEAD (no conditions, range or
 * cache directives) whose response is fresh in the local tiers (L1, L2) and already holds
 * the coding the client negotiates. The headers of each stored response and coding are
 * worked out once and kept beside its decoded entry, so a hit costs a local lookup, a
 * freshness comparison and one `writeHead` of a prepared field list. Everything else (a
 * miss, a stale entry, a coding not made yet, an entry only Redis holds) is left to the
 * full cached path, which makes the same answer by the same rules: `find` touches nothing
 * when it declines.
 */
export class FastHits {
  private readonly prepared = new WeakMap<StoredResponse, Prepared>()
  private readonly chosen = new Map<string, ContentEncoding | undefined>()

  constructor(
    private readonly store: HttpResponseStore,
    private readonly compression: CompressionSettings,
  ) {}

  /** The hit for `req` at `now` (epoch ms), or undefined when the full cached path must answer it. */
  find(req: IncomingMessage, now: number): FastHit | undefined {
    for (const name of NOT_PLAIN) if (req.headers[name] !== undefined) return undefined
    return this.findPlain(req, now)
  }

  /**
   * The hit a plain request (without the fields of {@link NOT_PLAIN}) of `req`'s method,
   * target and `Accept-Encoding` would get at `now`: what a native front may answer such
   * requests with, whatever `req` itself asked.
   */
  findPlain(req: IncomingMessage, now: number): FastHit | undefined {
    const { method, url, headers } = req
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || url.charCodeAt(0) !== 0x2f) return undefined
    const stored = this.store.peekLocal({ method, url: cacheKeyUrl(url), headers })
    if (stored === undefined) return undefined
    const prepared = this.prepare(stored)
    if (now >= prepared.freshUntil) return undefined
    const encoding = prepared.negotiable ? this.encodingFor(headers['accept-encoding']) : undefined
    const form = this.form(stored, prepared, encoding)
    if (form === undefined) return undefined
    const age = Math.floor((prepared.initialAgeMs + Math.max(0, now - stored.responseTime)) / 1000)
    return {
      status: stored.status,
      form,
      age,
      stored,
      freshUntil: prepared.freshUntil,
      initialAgeMs: prepared.initialAgeMs,
    }
  }

  /** Sends `hit` on `res` with the request's id and `extra` fields (flat name, value list), counting it as the store's hit; HEAD gets no body. */
  send(req: IncomingMessage, res: ServerResponse, hit: FastHit, requestId: string, extra: readonly string[]): void {
    this.store.countHit()
    const fields = hit.form.fields.concat('age', String(hit.age), REQUEST_ID_HEADER, requestId, extra)
    res.writeHead(hit.status, fields)
    res.end(req.method === 'HEAD' ? undefined : hit.form.body)
  }

  private prepare(stored: StoredResponse): Prepared {
    let prepared = this.prepared.get(stored)
    if (prepared === undefined) {
      prepared = {
        freshUntil: freshUntilMs(stored, this.store.freshness),
        initialAgeMs: currentAgeMs(stored, stored.responseTime),
        negotiable: codingNegotiable(stored, this.compression),
        forms: new Map(),
      }
      this.prepared.set(stored, prepared)
    }
    return prepared
  }

  /** The coding chosen for an `Accept-Encoding` value, remembered: clients send few distinct ones. */
  private encodingFor(header: string | string[] | undefined): ContentEncoding | undefined {
    const accept = Array.isArray(header) ? header.join(', ') : header
    if (accept === undefined) return undefined
    if (this.chosen.has(accept)) return this.chosen.get(accept)
    const encoding = negotiateEncoding(accept)
    if (accept.length <= MAX_REMEMBERED_ACCEPT_LENGTH) {
      if (this.chosen.size >= MAX_REMEMBERED_ACCEPTS) this.chosen.clear()
      this.chosen.set(accept, encoding)
    }
    return encoding
  }

  /** The response in `encoding`, undefined when the entry does not hold that coding yet. */
  private form(stored: StoredResponse, prepared: Prepared, encoding: ContentEncoding | undefined): Form | undefined {
    const known = prepared.forms.get(encoding ?? 'identity')
    if (known !== undefined) return known
    const body = encoding === undefined ? stored.body : stored.variants[encoding]
    if (body === undefined) return undefined
    const options = { encoding, varyOnAcceptEncoding: prepared.negotiable }
    const headers = withCacheFields(
      toHeaders(responseHeaders(stored, stored.responseTime, options)),
      'HIT',
      undefined,
      false,
    )
    headers['content-length'] = body.length
    const notModified = withCacheFields(
      toHeaders(notModifiedHeaders(stored, stored.responseTime, options)),
      'HIT',
      undefined,
      false,
    )
    const form = { fields: flatFields(headers), body, notModifiedFields: flatFields(notModified) }
    prepared.forms.set(encoding ?? 'identity', form)
    return form
  }
}

/** Fields as one flat name, value list, `Age` left out (it is the request's own). */
function flatFields(headers: OutgoingHttpHeaders): string[] {
  const fields: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'age') continue
    if (Array.isArray(value)) for (const line of value) fields.push(name, line)
    else fields.push(name, String(value))
  }
  return fields
}
