import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'

import { FRONT_PEER_HEADER, peerAddress } from '../core/peer-address'
import type { TrustedProxies } from './client-address'
import { appendToList, endToEndHeaders } from './hop-by-hop'

/** What the gateway adds to `Via`, both ways (RFC 9110 §7.6.3): protocol version and a pseudonym. */
export const VIA_ENTRY = '1.1 optlayer'

/** Header of the request id, propagated upstream and returned to the client. */
export const REQUEST_ID_HEADER = 'x-request-id'

/** An id a client or proxy sent that is safe to log and forward: visible ASCII, bounded. */
const ACCEPTABLE_ID = /^[\x21-\x7e]{1,200}$/

/** The request's id: the one it came with when acceptable, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER]
  const id = Array.isArray(given) ? given[0] : given
  return id !== undefined && ACCEPTABLE_ID.test(id) ? id : randomUUID()
}

/** The origin-form target sent upstream: a client's absolute-form target is reduced to path and query. */
export function targetOf(url: string | undefined): string {
  if (url === undefined || url === '') return '/'
  if (url.startsWith('/')) return url
  try {
    const parsed = new URL(url)
    return parsed.pathname + parsed.search
  } catch {
    return '/'
  }
}

/** Who sent a request, as far as the gateway can tell. */
export interface RequestOrigin {
  /** The direct peer's address (the last hop). */
  peer: string
  /** Whether the peer is a trusted proxy, whose `X-Forwarded-*` the gateway believes. */
  trusted: boolean
  /** The client's address: from a trusted proxy's `X-Forwarded-For`, else the peer's. */
  client: string
}

/** Who sent `req`, judged against `trusted`. */
export function requestOrigin(req: IncomingMessage, trusted: TrustedProxies): RequestOrigin {
  const peer = peerAddress(req)
  return {
    peer: trusted.clientAddress(peer, undefined),
    trusted: trusted.trusts(peer),
    client: trusted.clientAddress(peer, req.headers['x-forwarded-for']),
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * The headers sent upstream for `req`: its end-to-end headers, without `Host` (the
 * backend's own is sent) and `Expect` (Node answered `100-continue` already), with `Via`
 * extended and `X-Request-Id` set. `X-Forwarded-For` gets the peer appended when the peer is
 * a trusted proxy, else it is the peer alone; `X-Forwarded-Proto`/`-Host` are kept from a
 * trusted proxy, else set from this connection; an untrusted `Forwarded` is dropped, as it
 * would be a client's own claim. `X-Real-IP` is always the client address the gateway
 * settled on, so that a backend reading it cannot be handed a client's own claim either.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  origin: RequestOrigin,
  requestId: string,
): Record<string, string | string[]> {
  const headers = endToEndHeaders(req.headers)
  delete headers.host
  delete headers.expect
  delete headers[FRONT_PEER_HEADER]
  const incoming = req.headers
  const trusted = origin.trusted
  if (!trusted) delete headers.forwarded
  headers['x-forwarded-for'] = trusted ? appendToList(incoming['x-forwarded-for'], origin.peer) : origin.peer
  const proto = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http'
  headers['x-forwarded-proto'] = (trusted ? single(incoming['x-forwarded-proto']) : undefined) ?? proto
  const host = (trusted ? single(incoming['x-forwarded-host']) : undefined) ?? incoming.host
  if (host === undefined) delete headers['x-forwarded-host']
  else headers['x-forwarded-host'] = host
  headers['x-real-ip'] = origin.client
  headers.via = appendToList(incoming.via, VIA_ENTRY)
  headers[REQUEST_ID_HEADER] = requestId
  return headers
}

/**
 * The headers sent to the client for a backend's response headers: end-to-end ones only,
 * `Via` extended, `X-Request-Id` set.
 */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  requestId: string,
): Record<string, string | string[]> {
  const kept = endToEndHeaders(headers)
  kept.via = appendToList(headers.via, VIA_ENTRY)
  kept[REQUEST_ID_HEADER] = requestId
  return kept
}
