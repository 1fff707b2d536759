import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'

import {
  AbortError,
  ClosedError,
  NoBackendError,
  OverloadedError,
  RateLimitedError,
  TimeoutError,
} from '../core/errors'
import { sendJson } from '../core/http-listener'
import { rejectTooManyRequests } from '../ratelimit/http'
import type { ProcessRequestOptions, ResolvedLayerOptions } from './options'

/** What the handler needs of its layer. @internal */
export interface HandlerHost {
  readonly rateLimit: number | undefined
  processRequest(userKey: string, data: never, options: ProcessRequestOptions): Promise<unknown>
}

type HandlerSettings = Pick<ResolvedLayerOptions, 'userKeyHeader' | 'maxBodyBytes' | 'overloadRetryAfterMs'>

/** The body went past `maxBodyBytes`. */
class BodyTooLarge extends Error {}

/**
 * The `node:http` listener of `OptimizationLayer.handler()`. Every failure becomes a status
 * with a fixed message (internal messages stay inside); nothing is thrown out of it.
 * @internal
 */
export function createLayerHandler(layer: HandlerHost, settings: HandlerSettings): RequestListener {
  return (req, res) => {
    serve(layer, settings, req, res).catch(() => {
      // Only a fault of the reply itself gets here: end the exchange rather than leave it hanging.
      if (!res.headersSent) reply(res, 500, 'internal_error', 'internal error')
      else res.destroy()
    })
  }
}

async function serve(
  layer: HandlerHost,
  settings: HandlerSettings,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'POST') return reply(res, 405, 'method_not_allowed', 'use POST', { allow: 'POST' })
  if (!isJson(req.headers['content-type'])) {
    return reply(res, 415, 'unsupported_media_type', 'the body must be application/json')
  }
  const declared = Number(req.headers['content-length'])
  if (declared > settings.maxBodyBytes) return tooLarge(res, settings.maxBodyBytes)
  // The client going away aborts the request's wait (the work goes on for identical requests).
  const gone = new AbortController()
  res.on('close', () => {
    if (!res.writableFinished) gone.abort()
  })
  let body: Buffer
  try {
    body = await readBody(req, settings.maxBodyBytes)
  } catch (error) {
    if (error instanceof BodyTooLarge) return tooLarge(res, settings.maxBodyBytes)
    res.destroy()
    return
  }
  let data: unknown
  try {
    data = JSON.parse(body.toString('utf8'))
  } catch {
    return reply(res, 400, 'bad_request', 'the body is not valid JSON')
  }
  const header = req.headers[settings.userKeyHeader]
  const given = Array.isArray(header) ? header[0] : header
  const userKey = given !== undefined && given !== '' ? given : (req.socket.remoteAddress ?? 'unknown')
  let result: unknown
  try {
    result = await layer.processRequest(userKey, data as never, { signal: gone.signal })
  } catch (error) {
    return replyError(layer, settings, res, error, gone.signal.aborted)
  }
  if (res.destroyed) return
  sendJson(res, 200, result ?? null)
}

function replyError(
  layer: HandlerHost,
  settings: HandlerSettings,
  res: ServerResponse,
  error: unknown,
  clientGone: boolean,
): void {
  if (clientGone || res.destroyed) return
  if (error instanceof RateLimitedError) {
    const decision = { allowed: false, remaining: 0, retryAfterMs: error.retryAfterMs, resetMs: error.resetMs }
    return rejectTooManyRequests(res, decision, layer.rateLimit ?? 0)
  }
  if (error instanceof OverloadedError) {
    return reply(res, 503, 'overloaded', 'the service is overloaded; retry later', retryAfter(error.retryAfterMs))
  }
  if (error instanceof ClosedError) {
    return reply(res, 503, 'unavailable', 'the service is stopping', retryAfter(settings.overloadRetryAfterMs))
  }
  if (error instanceof TimeoutError) return reply(res, 504, 'timeout', 'the request timed out')
  if (error instanceof NoBackendError) return reply(res, 502, 'bad_gateway', 'no backend could answer')
  // nginx's 499: the request was aborted while the client is still connected (rare: a half-close).
  if (error instanceof AbortError) return reply(res, 499, 'client_closed_request', 'the request was aborted')
  reply(res, 500, 'internal_error', 'internal error')
}

function reply(
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error, message }, headers)
}

function tooLarge(res: ServerResponse, limit: number): void {
  // The rest of the body is not read: close the connection rather than leave it unread on a keep-alive socket.
  reply(res, 413, 'payload_too_large', `the body is larger than ${limit} bytes`, { connection: 'close' })
}

/** `Retry-After` in whole seconds, at least 1 so that a client does not retry at once. */
function retryAfter(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) }
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/** The whole body, refused past `limit` bytes as soon as it gets there. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        req.pause()
        reject(new BodyTooLarge())
      } else chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(error)
    }
    const onClose = (): void => {
      cleanup()
      reject(new Error('the client closed the connection before the body was read'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}
