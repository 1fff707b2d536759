import { createHash } from 'node:crypto'

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
  return createHash('sha1')
    .update(text ?? '\0undefined')
    .digest('base64url')
}

/** The default cache key of a request: the user key and the digest of its data. @internal */
export function defaultCacheKey(userKey: string, data: unknown): string {
  return `${userKey}:${dataDigest(data)}`
}
