import type { OutgoingHttpHeaders } from 'node:http'

import type { ContentEncoding } from '../compress/accept-encoding'

/** Media types worth compressing besides `text/*`: structured text and fonts that are not compressed already. */
const COMPRESSIBLE_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/xml',
  'application/xhtml+xml',
  'application/rss+xml',
  'application/atom+xml',
  'application/ld+json',
  'application/manifest+json',
  'application/graphql-response+json',
  'application/x-ndjson',
  'application/wasm',
  'image/svg+xml',
  'image/x-icon',
  'font/ttf',
  'font/otf',
])

/** Whether a `Content-Type` names a representation that compresses well (text, JSON, JS, XML, SVG, …). */
export function isCompressibleType(contentType: string | number | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false
  const type = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase()
  if (type.startsWith('text/')) return type !== 'text/event-stream'
  // Structured syntax suffixes (RFC 6839): application/problem+json, application/vnd.x+xml.
  return COMPRESSIBLE_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml')
}

function headerText(value: string | number | readonly string[] | undefined): string {
  if (value === undefined) return ''
  return Array.isArray(value) ? value.join(',') : String(value)
}

/**
 * Whether the gateway may compress this response for a client that asks: a 200 to a GET,
 * sent identity (no `Content-Encoding`), of a compressible type, not marked `no-transform`,
 * and of unknown length or at least `minBytes`. Such a response varies by `Accept-Encoding`
 * whether or not this client gets it compressed.
 */
export function mayCompress(method: string, status: number, headers: OutgoingHttpHeaders, minBytes: number): boolean {
  if (method !== 'GET' || status !== 200) return false
  const coding = headerText(headers['content-encoding']).trim().toLowerCase()
  if (coding !== '' && coding !== 'identity') return false
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(headerText(headers['cache-control']))) return false
  if (!isCompressibleType(headers['content-type'] as string | undefined)) return false
  const length = headers['content-length']
  return length === undefined || Number(length) >= minBytes
}

/** Adds `field` to the `Vary` of `headers` unless it is there already (or `*`). */
export function addVary(headers: OutgoingHttpHeaders, field: string): void {
  const current = headerText(headers.vary)
  const fields = current
    .split(',')
    .map((f) => f.trim().toLowerCase())
    .filter((f) => f !== '')
  if (fields.includes('*') || fields.includes(field.toLowerCase())) return
  headers.vary = current.trim() === '' ? field : `${current}, ${field}`
}

/**
 * The headers of `headers`' representation sent with `encoding`: `Content-Encoding` set, the
 * length dropped (unknown until the end, or given by the caller), byte ranges no longer
 * offered, and a strong `ETag` made weak, as the bytes are not those the origin tagged.
 */
export function encodedHeaders(headers: OutgoingHttpHeaders, encoding: ContentEncoding): OutgoingHttpHeaders {
  const encoded: OutgoingHttpHeaders = { ...headers, 'content-encoding': encoding }
  delete encoded['content-length']
  delete encoded['accept-ranges']
  const etag = encoded.etag
  if (typeof etag === 'string' && etag.startsWith('"')) encoded.etag = `W/${etag}`
  return encoded
}
