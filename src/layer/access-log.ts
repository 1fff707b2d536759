import { createHash } from 'node:crypto'

/** One `handler()` request, as given to the `log` option once it is answered. */
export interface LayerAccessLogEntry {
  /** The request's method. */
  method: string
  /** The request's path and query, as received. */
  path: string
  /** The status answered; 499 when the client went away first. */
  status: number
  /** Time from the request's arrival to its answer, in ms. */
  ms: number
  /** The `X-Request-Id` answered (the client's, or one generated). */
  requestId: string
  /**
   * A digest (16 hex digits of SHA-256) of the user key, never the key itself, which may be a
   * credential: enough to group a client's requests. Undefined when the request got no key.
   */
  userKey: string | undefined
  /** `hit` or `miss` for a request that got a result; undefined otherwise. */
  cache: 'hit' | 'miss' | undefined
}

/** The `log` option: called once per request; what it throws is ignored. */
export type LayerAccessLog = (entry: LayerAccessLogEntry) => void

/** The digest of a user key written to access logs. @internal */
export function userKeyDigest(userKey: string): string {
  return createHash('sha256').update(userKey, 'utf8').digest('hex').slice(0, 16)
}
