import type { IncomingMessage, ServerResponse } from 'node:http'
import { Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import { negotiateEncoding } from '../compress/accept-encoding'
import { createCompressStream } from '../compress/streams'
import { AbortError } from '../core/errors'
import { addVary, encodedHeaders, mayCompress } from './compression'
import { clientResponseHeaders } from './forwarded-headers'
import type { UpstreamResponse } from './forward'

/** How responses are compressed on the way out. */
export interface CompressionSettings {
  compression: boolean
  compressMinBytes: number
}

/** How a relayed body ended: read whole, cut by the backend (or a codec), or left by the client. */
export type RelayEnd = 'complete' | 'cut' | 'left'

/** Extras of one relay. */
export interface RelayOptions {
  /** Headers added to the response (`X-Cache`, `Connection: close`). */
  headers?: Readonly<Record<string, string>>
  /** A stage the identity body goes through before compression (the cache's copy of it). */
  tap?: Transform
}

/**
 * Streams a backend's response to the client: end-to-end headers (see
 * `clientResponseHeaders`), the body piped with back-pressure, compressed on the codec
 * streams when the response may be (`mayCompress`) and the client accepts a coding
 * (`Vary: Accept-Encoding` then set either way). Reports the end of the exchange to the
 * balancer. When either side cut the body, the client's connection is destroyed.
 */
export async function relay(
  req: IncomingMessage,
  res: ServerResponse,
  response: UpstreamResponse,
  requestId: string,
  settings: CompressionSettings,
  options: RelayOptions = {},
): Promise<RelayEnd> {
  let headers = clientResponseHeaders(response.headers, requestId)
  const stages: Transform[] = options.tap === undefined ? [] : [options.tap]
  if (
    settings.compression &&
    mayCompress(req.method ?? 'GET', response.statusCode, headers, settings.compressMinBytes)
  ) {
    addVary(headers, 'Accept-Encoding')
    const accept = req.headers['accept-encoding']
    const encoding = negotiateEncoding(Array.isArray(accept) ? accept.join(', ') : accept)
    if (encoding !== undefined) {
      headers = encodedHeaders(headers, encoding) as typeof headers
      stages.push(createCompressStream(encoding))
    }
  }
  Object.assign(headers, options.headers)
  res.writeHead(response.statusCode, headers)
  return pump(response, [...stages, res])
}

/**
 * Reads a backend's body into `stages` (ending in a sink) and reports the exchange's end
 * to the balancer: complete, cut by the backend (a failure) or by the client (abandoned).
 */
export async function pump(response: UpstreamResponse, stages: (Transform | Writable)[]): Promise<RelayEnd> {
  const last = stages[stages.length - 1]
  try {
    // One sink (a plain relay, the proxy path's common case) takes the body as it comes:
    // `pipeline` costs a stream, an AbortController and, once done, an abort per body.
    if (stages.length === 1 && last !== undefined) await response.body.pipeTo(last)
    else await pipeline([response.body.readable(), ...stages])
    response.finish(response.statusCode < 500 ? 'ok' : 'failed')
    return 'complete'
  } catch (error) {
    const left = clientLeft(error)
    response.finish(left ? 'abandoned' : 'failed')
    last?.destroy()
    return left ? 'left' : 'cut'
  }
}

/** A sink for a body that is read (to store it) but sent to no one. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() })
}

/** Whether a relay failed because the client went away (not the backend). */
function clientLeft(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === AbortError.code
}
