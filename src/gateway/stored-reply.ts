import type { OutgoingHttpHeaders } from 'node:http'

import { mayCompress } from './compression'
import { REQUEST_ID_HEADER, VIA_ENTRY } from './forwarded-headers'
import type { HeaderList, StoredResponse } from './http-cache'
import type { CompressionSettings } from './relay'

/** What `X-Cache` says of a response from the cached path. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED'

/**
 * Whether the coding of `stored` is chosen by `Accept-Encoding`: judged as for a GET (so a
 * HEAD gets a GET's headers), with the stored body's length.
 */
export function codingNegotiable(stored: StoredResponse, settings: CompressionSettings): boolean {
  if (!settings.compression) return false
  const described = toHeaders(stored.headers)
  described['content-length'] = stored.body.length
  return mayCompress('GET', stored.status, described, settings.compressMinBytes)
}

/**
 * Adds what the gateway says of a response it makes from the cache: `X-Cache`, its entry in
 * `Via`, `X-Request-Id` when given, and `Connection: close` while closing (keep-alive
 * clients of a closing gateway reconnect, possibly elsewhere). Returns `headers`.
 */
export function withCacheFields(
  headers: OutgoingHttpHeaders,
  status: CacheStatus,
  requestId: string | undefined,
  closing: boolean,
): OutgoingHttpHeaders {
  headers['x-cache'] = status
  headers.via = headers.via === undefined ? VIA_ENTRY : `${String(headers.via)}, ${VIA_ENTRY}`
  if (requestId !== undefined) headers[REQUEST_ID_HEADER] = requestId
  if (closing) headers.connection = 'close'
  return headers
}

/** A header list as `writeHead` takes it: repeated fields as arrays (`Set-Cookie`), names lower-case. */
export function toHeaders(list: HeaderList): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of list) {
    const current = headers[name]
    if (current === undefined) headers[name] = value
    else if (Array.isArray(current)) current.push(value)
    else headers[name] = [String(current), value]
  }
  return headers
}
