import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'

import { peerAddress } from '../core/peer-address'

/** One line of the access log: a request and how it was answered. */
export interface AccessLogEntry {
  /** When the request arrived, ISO 8601. */
  time: string
  method: string
  /** Path and query as the client sent them. */
  url: string
  /** The status sent, or 0 when the client left before any was. */
  status: number
  /** From arrival to the last byte written (or the client leaving), in ms. */
  ms: number
  /** The peer's address (a trusted proxy's, behind one). */
  client: string | undefined
  /** `X-Cache` of the answer, when the gateway set one. */
  cache?: string
  /** `X-Request-Id` of the answer, when one was set. */
  requestId?: string
  /** The client left before the answer was complete. */
  aborted?: true
}

/**
 * Wraps a listener so that each request it serves is written as one {@link AccessLogEntry}
 * once the answer is complete or the client has gone. Off the request path: the entry is
 * built from what the response already carries.
 */
export function withAccessLog(listener: RequestListener, write: (entry: AccessLogEntry) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now()
    const time = new Date().toISOString()
    res.once('close', () => {
      const entry: AccessLogEntry = {
        time,
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        ms: Math.round((performance.now() - started) * 1000) / 1000,
        client: peerAddress(req),
      }
      const cache = res.getHeader('x-cache')
      if (typeof cache === 'string') entry.cache = cache
      const requestId = res.getHeader('x-request-id')
      if (typeof requestId === 'string') entry.requestId = requestId
      if (!res.writableFinished) entry.aborted = true
      write(entry)
    })
    listener(req, res)
  }
}
