import type { ServerResponse } from 'node:http'

import { sendJson } from '../core/http-listener'

/** Stable `code`s of the gateway's own error responses. */
export type GatewayErrorCode =
  'bad_gateway' | 'gateway_timeout' | 'no_backend' | 'overloaded' | 'closing' | 'unavailable' | 'internal_error'

/** The JSON body of every error the gateway answers itself (rate limiting's 429 excepted, see `ratelimit/http`). */
export interface GatewayErrorBody {
  error: { code: GatewayErrorCode; message: string }
}

/**
 * Ends `res` with `status` and `{ error: { code, message } }`. Headers set earlier for the
 * response that was to be (`RateLimit-*`) are kept; `X-Request-Id` is among them.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  code: GatewayErrorCode,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    // Too late for a status: cutting the connection is the only way to tell the client.
    res.destroy()
    return
  }
  const body: GatewayErrorBody = { error: { code, message } }
  sendJson(res, status, body, { 'cache-control': 'no-store', ...headers })
}

/** `Retry-After` in whole seconds (rounded up, at least 1) for a wait in ms. */
export function retryAfter(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) }
}
