import { hash } from 'node:crypto'

import { InvalidArgumentError } from '../core/errors'

/** Object keys in sorted order, so that `{a, b}` and `{b, a}` serialize alike. */
function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const sorted: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key]
  return sorted
}

/**
 * A stable digest of `data`: SHA-1 (a fingerprint, not a secret) of its JSON with object keys
 * sorted, so that equal data gives equal keys in every process whatever its key order. Data
 * JSON cannot represent (a BigInt, a cycle) is refused rather than hashed ambiguously.
 * @internal
 */
export function dataDigest(data: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(data, sortedKeys)
  } catch (error) {
    throw new InvalidArgumentError('invalid data: expected a value JSON can represent', { cause: error })
  }
  // `undefined` has no JSON; a tag no JSON text starts with keeps it apart from "null".
  // The one-shot hash: a Hash object per request costs more than the digest of a small body.
  return hash('sha1', text ?? '\0undefined', 'base64url')
}

/** User keys longer than this (in UTF-16 units) enter cache keys as a digest, so that every key fits the cache's limit. */
const MAX_LITERAL_USER_KEY = 128

/**
 * The default cache key of a request: the user key and the digest of its data. A long user
 * key (up to the 512 bytes `handler()` accepts) is replaced by `#` and its SHA-1, which keeps
 * the cache key within the cache's default 512-byte `maxKeyLength`; a client could only take
 * another's entries by sending a key equal to that digest of the other's key, which needs that key.
 * @internal
 */
export function defaultCacheKey(userKey: string, data: unknown): string {
  const user = userKey.length <= MAX_LITERAL_USER_KEY ? userKey : `#${hash('sha1', userKey, 'base64url')}`
  return `${user}:${dataDigest(data)}`
}
