/** The content codings optlayer can produce for HTTP, by their `Content-Encoding` tokens. */
export type ContentEncoding = 'zstd' | 'br' | 'gzip' | 'deflate'

/** Server preference when the client weighs several codings equally: best ratio per CPU first. */
export const DEFAULT_ENCODING_PREFERENCE: readonly ContentEncoding[] = Object.freeze(['zstd', 'br', 'gzip', 'deflate'])

/** One coding of an `Accept-Encoding` header with its weight. */
export interface AcceptedEncoding {
  /** The coding token, lower-cased (`*` and `identity` included). */
  coding: string
  /** Its q-value, 0 to 1; 0 means "not acceptable". */
  q: number
}

const MAX_HEADER_LENGTH = 4096

function parseQ(params: string[]): number {
  for (const param of params) {
    const [name, value] = param.split('=', 2).map((part) => part.trim())
    if (name?.toLowerCase() !== 'q') continue
    // RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    if (value === undefined || !/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value)) return 0
    return Number(value)
  }
  return 1
}

/**
 * Parses an `Accept-Encoding` header (RFC 9110 §12.5.3) into codings and q-values, in
 * header order. Malformed q-values count as 0 (not acceptable); headers longer than
 * 4 KiB are truncated rather than parsed without bound.
 */
export function parseAcceptEncoding(header: string | undefined): AcceptedEncoding[] {
  if (header === undefined) return []
  const accepted: AcceptedEncoding[] = []
  for (const item of header.slice(0, MAX_HEADER_LENGTH).split(',')) {
    const [token, ...params] = item.split(';')
    const coding = token?.trim().toLowerCase()
    if (coding) accepted.push({ coding, q: parseQ(params) })
  }
  return accepted
}

/**
 * Picks the content coding for a response from the request's `Accept-Encoding`, or
 * `undefined` to send the body as it is. The highest q-value wins; ties go to the
 * server's `preference` order. `*` stands for every coding not named. A missing header
 * means "no preference" and, as most servers do, gets no compression.
 *
 * @example
 * ```ts
 * negotiateEncoding('gzip;q=0.8, br, zstd;q=0') // 'br'
 * negotiateEncoding('identity')                 // undefined
 * ```
 */
export function negotiateEncoding(
  header: string | undefined,
  preference: readonly ContentEncoding[] = DEFAULT_ENCODING_PREFERENCE,
): ContentEncoding | undefined {
  const accepted = parseAcceptEncoding(header)
  if (accepted.length === 0) return undefined
  const weights = new Map<string, number>()
  for (const { coding, q } of accepted) {
    // Repeated codings: the most restrictive weight wins, so a later "gzip;q=0" disables gzip.
    weights.set(coding, Math.min(q, weights.get(coding) ?? 1))
  }
  const wildcard = weights.get('*')
  let best: ContentEncoding | undefined
  let bestQ = 0
  for (const coding of preference) {
    const q = weights.get(coding) ?? wildcard ?? 0
    if (q > bestQ) {
      best = coding
      bestQ = q
    }
  }
  return best
}
