import type { ContentEncoding } from '../../compress/accept-encoding'
import { InvalidArgumentError } from '../../core/errors'
import { ByteReader, ByteWriter, latin1Bytes } from './byte-reader'
import { varyNames, varyValues, VARY_ANY } from './cache-key'
import { currentAgeMs } from './freshness'
import {
  endToEndHeaders,
  headerValue,
  isFieldName,
  isFieldValue,
  type CacheRequest,
  type HeaderList,
  type ResponseHeadersInput,
} from './headers'
import { formatHttpDate } from './http-date'

/** A response as the shared cache keeps it. Treat it as immutable: the cache's L1 hands out one object to every reader. */
export interface StoredResponse {
  /** The final status code. */
  status: number
  /** End-to-end fields only (no hop-by-hop fields, no `content-length`), names lower-case. */
  headers: HeaderList
  /** The identity body (no content coding); empty for a response to HEAD. */
  body: Buffer
  /** The body in each content coding made so far. */
  variants: Partial<Record<ContentEncoding, Buffer>>
  /** When the request that fetched (or last revalidated) it was sent, epoch ms. */
  requestTime: number
  /** When that response arrived, epoch ms. */
  responseTime: number
  /** The request fields it varies on, lower-case and sorted (without `accept-encoding`). */
  varyNames: string[]
  /** The normalized values of those fields in the request it answered (`null`: absent). */
  varyValues: (string | null)[]
  /** It answered a HEAD: no body was received, so it cannot answer a GET. */
  headOnly: boolean
}

/** What {@link createStoredResponse} takes: an upstream response and the request it answered. */
export interface UpstreamResponse {
  /** The request sent upstream: its method, and the headers Vary refers to. */
  request: Pick<CacheRequest, 'method' | 'headers'>
  status: number
  headers: ResponseHeadersInput
  /** The identity body; ignored for HEAD. @default empty */
  body?: Buffer
  /** When the request was sent, epoch ms. */
  requestTime: number
  /** When the response arrived, epoch ms. */
  responseTime: number
}

/** The content codings a stored response can carry, in stored order (bit `i` of the variant mask is coding `i`). */
const ENCODINGS: readonly ContentEncoding[] = ['zstd', 'br', 'gzip', 'deflate']

/**
 * A {@link StoredResponse} from an upstream response: its end-to-end fields, a `Date` field
 * added when it has none (RFC 9110 §6.6.1: a cache records when it received the response),
 * and the request's values of the fields named by `Vary`. The body must be the identity
 * body: a `Content-Encoding` other than `identity` throws `InvalidArgumentError` (the
 * encoded forms are `variants`, made by the gateway). So do an invalid status, time or field.
 */
export function createStoredResponse(upstream: UpstreamResponse): StoredResponse {
  const { status, requestTime, responseTime } = upstream
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new InvalidArgumentError(`invalid status: expected a whole number from 100 to 599, got ${status}`)
  }
  if (!Number.isFinite(requestTime) || !Number.isFinite(responseTime) || requestTime < 0 || responseTime < 0) {
    throw new InvalidArgumentError('invalid requestTime or responseTime: expected epoch milliseconds')
  }
  const headers = endToEndHeaders(upstream.headers)
  const coding = headerValue(headers, 'content-encoding')
  if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
    throw new InvalidArgumentError(`invalid body: expected the identity body, got content-encoding ${coding}`)
  }
  const kept = headers.filter(([name]) => name !== 'content-encoding')
  if (headerValue(kept, 'date') === undefined) kept.push(['date', formatHttpDate(responseTime)])
  const names = varyNames(headerValue(kept, 'vary'))
  // `Vary: *` is never reused: storability refuses it, so nothing is recorded here.
  const vary = names === VARY_ANY ? [] : names
  const headOnly = upstream.request.method === 'HEAD'
  return {
    status,
    headers: kept,
    body: headOnly ? Buffer.alloc(0) : (upstream.body ?? Buffer.alloc(0)),
    variants: {},
    requestTime,
    responseTime,
    varyNames: vary,
    varyValues: varyValues(upstream.request.headers, vary),
    headOnly,
  }
}

/** How a stored response is sent: see {@link responseHeaders}. */
export interface ServeOptions {
  /** The content coding of the body sent; absent for the identity body. */
  encoding?: ContentEncoding
  /**
   * Whether the body sent was chosen by `Accept-Encoding`, so `Vary` must name it.
   * @default true when `encoding` is given or the response has variants
   */
  varyOnAcceptEncoding?: boolean
}

/**
 * The fields to send with a stored response at `now`: its stored fields and `Age` (RFC 9111
 * §5.1, whole seconds). With an `encoding`, `Content-Encoding` is added and a strong `ETag`
 * weakened (a strong validator names one exact representation, RFC 9110 §8.8.1); `Vary`
 * gains `Accept-Encoding` when the coding was negotiated. `Content-Length` is the sender's.
 */
export function responseHeaders(stored: StoredResponse, now: number, options: ServeOptions = {}): HeaderList {
  const { encoding } = options
  const varyOnCoding =
    options.varyOnAcceptEncoding ?? (encoding !== undefined || Object.keys(stored.variants).length > 0)
  const out: HeaderList = []
  for (const [name, value] of stored.headers) {
    if (name === 'age') continue
    if (name === 'etag' && encoding !== undefined && !value.startsWith('W/')) out.push([name, `W/${value}`])
    else out.push([name, value])
  }
  if (varyOnCoding) {
    const vary = headerValue(stored.headers, 'vary')
    if (vary === undefined) out.push(['vary', 'accept-encoding'])
    else if (!/(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(vary)) out.push(['vary', 'accept-encoding'])
  }
  if (encoding !== undefined) out.push(['content-encoding', encoding])
  out.push(['age', String(Math.floor(currentAgeMs(stored, now) / 1000))])
  return out
}

/** "OLHR": optlayer HTTP response. */
const MAGIC = 0x52484c4f
/** The format version; a change of layout takes the next one. */
const VERSION = 1
const HEAD_ONLY = 1
/** A `null` vary value (the field was absent) in place of a length. */
const ABSENT = 0xffffffff
/** magic, version, flags, status, requestTime, responseTime, header count, vary count, variant mask, body length. */
const FIXED_BYTES = 4 + 1 + 1 + 2 + 8 + 8 + 4 + 4 + 1 + 4

/**
 * Whether `bytes` starts like an encoded {@link StoredResponse} (other records can share a
 * cache with it).
 */
export function isEncodedStoredResponse(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32LE(0) === MAGIC
}

/**
 * The binary form of a stored response, for the distributed cache's tiers. Layout (little
 * endian; strings are a u32 length and Latin-1 octets, as HTTP fields are octets):
 *
 * | magic "OLHR" | version u8 | flags u8 | status u16 | requestTime f64 | responseTime f64 |
 * | header count u32, then name, value each | vary count u32, then name, value (length 0xFFFFFFFF: absent) each |
 * | variant mask u8 (bit per {@link ENCODINGS}) | body length u32, body | per set bit: length u32, bytes |
 *
 * Allocates once; bodies are copied, never re-encoded.
 */
export function encodeStoredResponse(stored: StoredResponse): Buffer {
  let size = FIXED_BYTES + stored.body.length
  for (const [name, value] of stored.headers) size += latin1Bytes(name) + latin1Bytes(value)
  stored.varyNames.forEach((name, i) => {
    size += latin1Bytes(name) + latin1Bytes(stored.varyValues[i] ?? '')
  })
  let mask = 0
  ENCODINGS.forEach((coding, bit) => {
    const variant = stored.variants[coding]
    if (variant === undefined) return
    mask |= 1 << bit
    size += 4 + variant.length
  })
  const w = new ByteWriter(Buffer.allocUnsafe(size))
  w.u32(MAGIC)
  w.u8(VERSION)
  w.u8(stored.headOnly ? HEAD_ONLY : 0)
  w.u16(stored.status)
  w.f64(stored.requestTime)
  w.f64(stored.responseTime)
  w.u32(stored.headers.length)
  for (const [name, value] of stored.headers) {
    w.latin1(name)
    w.latin1(value)
  }
  w.u32(stored.varyNames.length)
  stored.varyNames.forEach((name, i) => {
    w.latin1(name)
    const value = stored.varyValues[i] ?? null
    if (value === null) w.u32(ABSENT)
    else w.latin1(value)
  })
  w.u8(mask)
  w.u32(stored.body.length)
  w.raw(stored.body)
  for (const coding of ENCODINGS) {
    const variant = stored.variants[coding]
    if (variant === undefined) continue
    w.u32(variant.length)
    w.raw(variant)
  }
  return w.bytes
}

/**
 * The stored response encoded in `bytes` by {@link encodeStoredResponse}. Every length,
 * field and time is checked: anything else (truncated, trailing bytes, another format or
 * version, an invalid field) throws `CorruptInputError`. Bodies are views of `bytes`.
 */
export function decodeStoredResponse(bytes: Buffer): StoredResponse {
  const r = new ByteReader(bytes, 'stored HTTP response')
  if (r.u32() !== MAGIC) throw r.corrupt('not a stored HTTP response')
  if (r.u8() !== VERSION) throw r.corrupt('unknown version')
  const flags = r.u8()
  if ((flags & ~HEAD_ONLY) !== 0) throw r.corrupt('unknown flags')
  const status = r.u16()
  if (status < 100 || status > 599) throw r.corrupt('status out of range')
  const requestTime = r.f64()
  const responseTime = r.f64()
  if (!(requestTime >= 0 && responseTime >= 0 && requestTime < Infinity && responseTime < Infinity)) {
    throw r.corrupt('invalid times')
  }
  const headers: HeaderList = []
  // Each pair takes at least 8 bytes, so a corrupt count ends in "truncated" quickly.
  for (let n = r.u32(); n > 0; n--) {
    const name = r.latin1()
    const value = r.latin1()
    if (!isFieldName(name) || !isFieldValue(value)) throw r.corrupt('invalid header field')
    headers.push([name, value])
  }
  const names: string[] = []
  const values: (string | null)[] = []
  for (let n = r.u32(); n > 0; n--) {
    const name = r.latin1()
    if (!isFieldName(name)) throw r.corrupt('invalid vary name')
    names.push(name)
    values.push(readVaryValue(r))
  }
  const mask = r.u8()
  if (mask >= 1 << ENCODINGS.length) throw r.corrupt('unknown content coding')
  const body = r.view(r.u32())
  const variants: Partial<Record<ContentEncoding, Buffer>> = {}
  ENCODINGS.forEach((coding, bit) => {
    if (mask & (1 << bit)) variants[coding] = r.view(r.u32())
  })
  r.end()
  const headOnly = (flags & HEAD_ONLY) !== 0
  if (headOnly && (body.length > 0 || mask !== 0)) throw r.corrupt('a HEAD response with a body')
  return { status, headers, body, variants, requestTime, responseTime, varyNames: names, varyValues: values, headOnly }
}

function readVaryValue(r: ByteReader): string | null {
  const length = r.u32()
  if (length === ABSENT) return null
  const value = r.view(length).toString('latin1')
  if (!isFieldValue(value)) throw r.corrupt('invalid vary value')
  return value
}
