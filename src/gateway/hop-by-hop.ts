import type { IncomingHttpHeaders } from 'node:http'

import { isHopByHopField } from './http-cache/headers'

/** Names listed in the `Connection` header, lower-cased: they are hop-by-hop for this message too. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  // `keep-alive` names a field that is hop-by-hop anyway: the usual value needs no set.
  if (value === undefined || value === 'keep-alive') return undefined
  const tokens = new Set<string>()
  for (const part of Array.isArray(value) ? value : [String(value)]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase()
      if (name !== '') tokens.add(name)
    }
  }
  return tokens
}

/**
 * A copy of `headers` (lower-cased names, as Node and undici give them) without the
 * hop-by-hop fields: the fixed ones, every `Proxy-*` field, and those the `Connection`
 * header names (`host` and `expect` are handled where the request is built). `Proxy-Authorization` is meant for this proxy, so it is dropped too.
 */
export function endToEndHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection)
  const kept: Record<string, string | string[]> = {}
  // for-in over Node's and undici's plain header objects: Object.entries built an array per field.
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !isHopByHopField(name) && listed?.has(name) !== true) kept[name] = value
  }
  return kept
}

/** Appends `entry` to a header that may be absent, one value or several (as `Via` and `X-Forwarded-For`). */
export function appendToList(value: string | string[] | number | undefined, entry: string): string {
  if (value === undefined || value === '') return entry
  const joined = Array.isArray(value) ? value.join(', ') : String(value)
  return joined === '' ? entry : `${joined}, ${entry}`
}
