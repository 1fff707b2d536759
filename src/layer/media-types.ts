import { CorruptInputError } from '../core/errors'
import { jsonSerializer, msgpackSerializer } from '../compress/serializer'

/** The body formats of `handler()` and of backends: JSON, MessagePack, or raw bytes (the data is a Buffer). */
export type BodyFormat = 'json' | 'msgpack' | 'bytes'

const MSGPACK_TYPES: ReadonlySet<string> = new Set([
  'application/msgpack',
  'application/x-msgpack',
  'application/vnd.msgpack',
])

/** `Content-Type` sent for each format. */
const CONTENT_TYPES: Record<BodyFormat, string> = {
  json: 'application/json; charset=utf-8',
  msgpack: 'application/msgpack',
  bytes: 'application/octet-stream',
}

// One packer for the layer: its defaults (no shared records) let any MessagePack decoder read the bytes.
const msgpack = msgpackSerializer()

function mediaType(header: string): string {
  return (header.split(';', 1)[0] ?? '').trim().toLowerCase()
}

/** The format a `Content-Type` names, or undefined for one this layer does not read. @internal */
export function formatOf(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined
  const type = mediaType(contentType)
  if (type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))) return 'json'
  if (MSGPACK_TYPES.has(type)) return 'msgpack'
  if (type === 'application/octet-stream') return 'bytes'
  return undefined
}

/**
 * The format of a response: the one of `Accept`'s media ranges with the highest q-value among
 * those this layer writes (ties go to the request's format, then JSON); the request's format
 * when `Accept` is absent or names none of them.
 * @internal
 */
export function responseFormat(accept: string | undefined, request: BodyFormat): BodyFormat {
  if (accept === undefined) return request
  let best: BodyFormat | undefined
  let bestQ = 0
  for (const range of accept.slice(0, 4096).split(',')) {
    const [type, ...params] = range.split(';')
    const format = formatOf(type)
    if (format === undefined) continue
    const qParam = params.find((p) => p.trim().toLowerCase().startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.split('=')[1])
    if (!(q > 0)) continue
    if (q > bestQ || (q === bestQ && format === request && best !== request)) {
      best = format
      bestQ = q
    }
  }
  return best ?? request
}

/**
 * The data of a request body in `format`: parsed JSON, unpacked MessagePack, or the bytes.
 * @throws {CorruptInputError} the body is not valid in its format
 * @internal
 */
export function decodeBody(format: BodyFormat, body: Buffer): unknown {
  if (format === 'bytes') return body
  if (format === 'json') return jsonSerializer.decode(body)
  // msgpackr reads an empty buffer as `undefined`; an empty body is no MessagePack value.
  if (body.length === 0) throw new CorruptInputError('not valid MessagePack: the body is empty')
  return msgpack.decode(body)
}

/**
 * A result as a response body: bytes as `application/octet-stream` whatever was asked (they
 * have no other faithful form); otherwise MessagePack when asked, else JSON (`null` for
 * `undefined`, which JSON has no text for).
 * @internal
 */
export function encodeResult(format: BodyFormat, result: unknown): { body: Buffer; contentType: string } {
  if (result instanceof Uint8Array) {
    const body = Buffer.isBuffer(result) ? result : Buffer.from(result.buffer, result.byteOffset, result.byteLength)
    return { body, contentType: CONTENT_TYPES.bytes }
  }
  if (format === 'msgpack') return { body: msgpack.encode(result), contentType: CONTENT_TYPES.msgpack }
  return { body: jsonSerializer.encode(result ?? null), contentType: CONTENT_TYPES.json }
}
