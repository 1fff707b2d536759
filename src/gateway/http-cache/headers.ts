import { InvalidArgumentError } from '../../core/errors'

/** One header's value as Node gives it: a string, several lines, or nothing. */
export type HeaderValue = string | readonly string[] | undefined

/**
 * Header fields as `[name, value]` pairs in order: names lower-case, one pair per field line
 * (so `set-cookie` keeps one pair per cookie).
 */
export type HeaderList = Array<[name: string, value: string]>

/** Request headers by lower-case name, as in Node's `IncomingHttpHeaders`. */
export type RequestHeaders = Readonly<Record<string, HeaderValue>>

/**
 * Response headers as received: a record by name (Node's `IncomingHttpHeaders`, numbers
 * allowed) or `[name, value]` pairs (undici's `Headers`, a `HeaderList`).
 */
export type ResponseHeadersInput =
  Readonly<Record<string, string | number | readonly string[] | undefined>> | Iterable<readonly [string, string]>

/** A request as the cache sees it. */
export interface CacheRequest {
  /** The method, upper-case (`GET`). */
  method: string
  /** The absolute target URI: `https://host/path?query`. */
  url: string
  headers: RequestHeaders
}

/**
 * Header fields that describe one connection, not the message (RFC 9110 §7.6.1): never
 * forwarded by a proxy nor stored by a cache. Every `Proxy-*` field is one too (see
 * {@link isHopByHopField}), as is each field the `Connection` header names.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

/** Whether `name` (lower-case) is hop-by-hop whatever the `Connection` header says. @internal */
export function isHopByHopField(name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-')
}

/** A field name: an RFC 9110 §5.6.2 token, lower-case. */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/
/** A field value (RFC 9110 §5.5): visible octets, spaces and tabs; no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/** Whether `name` is a lower-case field name token. @internal */
export function isFieldName(name: string): boolean {
  return FIELD_NAME.test(name)
}

/** Whether `value` may be sent as a field value. @internal */
export function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value)
}

/**
 * The value of field `name` (lower-case) in `headers`: its lines joined with `, ` as RFC
 * 9110 §5.3 allows for list fields; `undefined` when absent.
 */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  let found: string | undefined
  for (const [n, v] of headers) if (n === name) found = found === undefined ? v : `${found}, ${v}`
  return found
}

/** A request header's value, its lines joined with `, `; `undefined` when absent. @internal */
export function requestHeader(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name]
  return value === undefined || typeof value === 'string' ? value : value.join(', ')
}

function pairsOf(input: ResponseHeadersInput): Iterable<readonly [string, string | number | readonly string[]]> {
  if (typeof (input as Iterable<unknown>)[Symbol.iterator] === 'function') {
    return input as Iterable<readonly [string, string]>
  }
  return Object.entries(input).filter((entry): entry is [string, string | number | readonly string[]] => {
    return entry[1] !== undefined
  })
}

/**
 * The end-to-end fields of `input` as a {@link HeaderList}: names lower-cased, hop-by-hop
 * fields (those of RFC 9110 §7.6.1 and any named by `Connection`) and `Content-Length`
 * left out. Throws `InvalidArgumentError` for a name or value that is not a valid field.
 */
export function endToEndHeaders(input: ResponseHeadersInput): HeaderList {
  const all: HeaderList = []
  for (const [rawName, rawValue] of pairsOf(input)) {
    const name = rawName.toLowerCase()
    if (!isFieldName(name)) throw new InvalidArgumentError(`invalid header name: ${JSON.stringify(rawName)}`)
    for (const item of Array.isArray(rawValue) ? (rawValue as readonly string[]) : [rawValue]) {
      const value = String(item)
      if (!isFieldValue(value)) throw new InvalidArgumentError(`invalid value of header ${name}`)
      all.push([name, value.trim()])
    }
  }
  const named = new Set(
    (headerValue(all, 'connection') ?? '')
      .split(',')
      .map((n) => n.trim().toLowerCase())
      .filter((n) => n.length > 0),
  )
  // content-length too: the sender recomputes it for the body it sends.
  return all.filter(([name]) => !isHopByHopField(name) && name !== 'content-length' && !named.has(name))
}
