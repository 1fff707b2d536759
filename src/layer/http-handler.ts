import { randomUUID } from 'node:crypto'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'

import {
  AbortError,
  BackendResponseError,
  ClosedError,
  CorruptInputError,
  InvalidArgumentError,
  NoBackendError,
  OverloadedError,
  RateLimitedError,
  TimeoutError,
} from '../core/errors'
import { sendJson } from '../core/http-listener'
import { peerAddress } from '../core/peer-address'
import { rejectTooManyRequests } from '../ratelimit/http'
import { userKeyDigest, type LayerAccessLogEntry } from './access-log'
import type { EncodedBodies, ReadyBody } from './encoded-bodies'
import type { FrontResults } from './front-results'
import { decodeBody, encodeResult, formatOf, responseFormat, type BodyFormat } from './media-types'
import type { ResolvedLayerOptions } from './options'
import { acceptsSomeEncoding, encodeForClient, encodingVariant } from './response-compression'

/** A result with its cache key and where it came from. @internal */
export interface HandledResult<R = unknown> {
  result: R
  cache: 'hit' | 'miss'
  key: string
}

/** What the handler needs of its layer. @internal */
export interface HandlerHost {
  readonly rateLimit: number | undefined
  /** The native front the handler's answers are published to, if any. */
  readonly frontResults: FrontResults | undefined
  processRecordedNow(userKey: string, data: never, signal: () => AbortSignal): HandledResult | Promise<HandledResult>
}

type HandlerSettings = Pick<
  ResolvedLayerOptions,
  'userKeyHeader' | 'maxBodyBytes' | 'overloadRetryAfterMs' | 'compressMinBytes' | 'log'
>

/** Longest user key, in UTF-8 bytes: the rate limiter's default key limit. */
const MAX_USER_KEY_BYTES = 512

/** A client's `X-Request-Id` is kept when it is this short and of visible ASCII only (it goes into logs). */
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,200}$/

const FORMAT_NAMES: Record<BodyFormat, string> = { json: 'JSON', msgpack: 'MessagePack', bytes: 'bytes' }

/** The body went past `maxBodyBytes`. */
class BodyTooLarge extends Error {}

/** What the access log records of a request besides what the response says. */
interface Exchange {
  userKey: string | undefined
  cache: 'hit' | 'miss' | undefined
}

/**
 * The `node:http` listener of `OptimizationLayer.handler()`. Every failure becomes a status
 * with a fixed message (internal messages stay inside); nothing is thrown out of it.
 * @internal
 */
export function createLayerHandler(
  layer: HandlerHost,
  settings: HandlerSettings,
  bodies: EncodedBodies | undefined,
): RequestListener {
  return (req, res) => {
    const requestId = requestIdOf(req.headers['x-request-id'])
    res.setHeader('x-request-id', requestId)
    const exchange: Exchange = { userKey: undefined, cache: undefined }
    if (settings.log !== undefined) logWhenDone(settings.log, req, res, requestId, exchange)
    serve(layer, settings, bodies, req, res, exchange).catch(() => {
      // Only a fault of the reply itself gets here: end the exchange rather than leave it hanging.
      if (!res.headersSent) reply(res, 500, 'internal_error', 'internal error')
      else res.destroy()
    })
  }
}

function requestIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header
  return given !== undefined && REQUEST_ID_PATTERN.test(given) ? given : randomUUID()
}

function logWhenDone(
  log: (entry: LayerAccessLogEntry) => void,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  exchange: Exchange,
): void {
  const started = performance.now()
  res.once('close', () => {
    const entry: LayerAccessLogEntry = {
      method: req.method ?? '',
      path: req.url ?? '',
      status: res.writableFinished ? res.statusCode : 499,
      ms: performance.now() - started,
      requestId,
      userKey: exchange.userKey === undefined ? undefined : userKeyDigest(exchange.userKey),
      cache: exchange.cache,
    }
    try {
      log(entry)
    } catch {
      // A failing log must not take the server down; the answer was sent already.
    }
  })
}

async function serve(
  layer: HandlerHost,
  settings: HandlerSettings,
  bodies: EncodedBodies | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  exchange: Exchange,
): Promise<void> {
  if (req.method !== 'POST') return reply(res, 405, 'method_not_allowed', 'use POST', { allow: 'POST' })
  const format = formatOf(req.headers['content-type'])
  if (format === undefined) {
    return reply(res, 415, 'unsupported_media_type', 'the body must be JSON, MessagePack or application/octet-stream')
  }
  const acceptEncoding = req.headers['accept-encoding']
  // Decided before the work runs: no result could be sent anyway.
  if (!acceptsSomeEncoding(acceptEncoding)) {
    return reply(res, 406, 'not_acceptable', 'Accept-Encoding refuses every coding and identity')
  }
  const declared = Number(req.headers['content-length'])
  if (declared > settings.maxBodyBytes) return tooLarge(res, settings.maxBodyBytes)
  const userKey = userKeyOf(req, settings.userKeyHeader)
  if (userKey === undefined) {
    return reply(res, 400, 'bad_request', `the ${settings.userKeyHeader} header is not a valid user key`)
  }
  exchange.userKey = userKey
  // The client going away aborts the request's wait (the work goes on for identical requests).
  // Made only for a request that waits: a hit answered at once never needs one.
  let gone: AbortController | undefined
  const signal = (): AbortSignal => {
    if (gone === undefined) {
      const controller = new AbortController()
      gone = controller
      if (res.destroyed && !res.writableFinished) controller.abort()
      res.on('close', () => {
        if (!res.writableFinished) controller.abort()
      })
    }
    return gone.signal
  }
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
    data = decodeBody(format, body)
  } catch (error) {
    if (!(error instanceof CorruptInputError)) throw error
    return reply(res, 400, 'bad_request', `the body is not valid ${FORMAT_NAMES[format]}`)
  }
  let handled: HandledResult
  try {
    const answer = layer.processRecordedNow(userKey, data as never, signal)
    handled = answer instanceof Promise ? await answer : answer
  } catch (error) {
    return replyError(layer, settings, res, error, gone?.signal.aborted === true)
  }
  exchange.cache = handled.cache
  if (res.destroyed) return
  const ready = readyBody(settings, bodies, handled, responseFormat(req.headers.accept, format), acceptEncoding)
  const sent = ready instanceof Promise ? await ready : ready
  if (res.destroyed) return
  const fields = {
    'content-type': sent.contentType,
    'content-length': sent.body.length,
    // The format follows Accept and the coding Accept-Encoding: a shared cache must key on both.
    vary: 'Accept, Accept-Encoding',
    ...(sent.encoding === undefined ? {} : { 'content-encoding': sent.encoding }),
  }
  res.writeHead(200, fields)
  res.end(sent.body)
  layer.frontResults?.answered(req, { userKey, body, cacheKey: handled.key, fields, response: sent.body })
}

/** The body of a result in `format` for `acceptEncoding`: the one kept for it (at once), or made (and kept) now. */
function readyBody(
  settings: HandlerSettings,
  bodies: EncodedBodies | undefined,
  handled: HandledResult,
  format: BodyFormat,
  acceptEncoding: string | undefined,
): ReadyBody | Promise<ReadyBody> {
  const variant = `${format} ${encodingVariant(acceptEncoding)}`
  const kept = bodies?.get(handled.key, variant, handled.result)
  if (kept !== undefined) return kept
  return encodeReadyBody(settings, bodies, handled, format, acceptEncoding, variant)
}

async function encodeReadyBody(
  settings: HandlerSettings,
  bodies: EncodedBodies | undefined,
  handled: HandledResult,
  format: BodyFormat,
  acceptEncoding: string | undefined,
  variant: string,
): Promise<ReadyBody> {
  const encoded = encodeResult(format, handled.result)
  const sent = await encodeForClient(encoded.body, acceptEncoding, settings.compressMinBytes)
  const ready = { body: sent.body, contentType: encoded.contentType, encoding: sent.encoding }
  bodies?.set(handled.key, variant, handled.result, ready)
  return ready
}

/**
 * The user key of a request: its `header` when present, else the client address; undefined
 * when the header is there but no valid key (over 512 UTF-8 bytes, or with control characters).
 */
function userKeyOf(req: IncomingMessage, header: string): string | undefined {
  const value = req.headers[header]
  const given = Array.isArray(value) ? value[0] : value
  if (given === undefined || given === '') return peerAddress(req) ?? 'unknown'
  if (Buffer.byteLength(given) > MAX_USER_KEY_BYTES || /[\x00-\x1f\x7f]/.test(given)) return undefined
  return given
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
  if (error instanceof BackendResponseError) {
    if (error.status === undefined) return reply(res, 502, 'bad_gateway', 'the backend answer is too large')
    // The backend's verdict on the request, relayed as it was (its body already bounded).
    res.writeHead(error.status, {
      'content-type': error.contentType ?? 'application/octet-stream',
      'content-length': error.body.length,
    })
    return void res.end(error.body)
  }
  // nginx's 499: the request was aborted while the client is still connected (rare: a half-close).
  if (error instanceof AbortError) return reply(res, 499, 'client_closed_request', 'the request was aborted')
  const status = clientErrorStatus(error)
  if (status !== undefined) return reply(res, status, 'bad_request', (error as Error).message)
  reply(res, 500, 'internal_error', 'internal error')
}

/**
 * The 4xx a processor's error asks for, its message meant for the client: `InvalidArgumentError`
 * (the data is not what the processor takes) is 400; an error carrying `status` or `statusCode`
 * from 400 to 499 gets that status, as Express, Koa and Fastify answer such errors.
 */
function clientErrorStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined
  if (error instanceof InvalidArgumentError) return 400
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown }
  const given = status ?? statusCode
  return typeof given === 'number' && Number.isInteger(given) && given >= 400 && given < 500 ? given : undefined
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
