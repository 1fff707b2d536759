import { createHash } from 'node:crypto'

import { InvalidArgumentError } from '../core/errors'
import type { Processor } from '../layer/options'

/** What the demo processor answers. */
export interface DemoResult {
  /** Words of `text`, lower-cased, with how often each occurs, most frequent first (at most 20). */
  topWords: Array<[word: string, count: number]>
  /** Words in `text`. */
  words: number
  /** SHA-256 of `text`, hex. */
  sha256: string
  /** When it was computed: a cached answer keeps the time of its first computation. */
  computedAt: string
}

/** Longest `text` the demo processor takes, in characters. */
const MAX_TEXT = 1_000_000

/**
 * The processor `optlayer serve` puts behind `POST /process` when it runs its demo (no
 * `BACKENDS`): `{"text": "..."}` in, word counts and a digest out. Cheap, deterministic and
 * cacheable, so a newcomer sees the first call computed and the same call again answered
 * from the cache with the first `computedAt`.
 *
 * @throws {InvalidArgumentError} the data is not an object with a string `text` (answered 400
 *   by the handler, with this message)
 */
export const demoProcessor: Processor<unknown, DemoResult> = (data) => {
  const text = (data as { text?: unknown } | null)?.text
  if (typeof text !== 'string' || text.length > MAX_TEXT) {
    throw new InvalidArgumentError(`the demo processor takes {"text": "<at most ${MAX_TEXT} characters>"}`)
  }
  const counts = new Map<string, number>()
  let words = 0
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []) {
    counts.set(word, (counts.get(word) ?? 0) + 1)
    words++
  }
  return {
    topWords: [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20),
    words,
    sha256: createHash('sha256').update(text).digest('hex'),
    computedAt: new Date().toISOString(),
  }
}
