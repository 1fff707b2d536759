import type { ExecutionContext } from 'ava'

/**
 * Asserts that two byte sequences are equal. AVA's `deepEqual` walks a Buffer element by
 * element (about 0.7 s per MiB), which made the codec specs the slowest of the suite; a
 * mismatch is reported by the lengths and the first differing offset instead of a diff.
 */
export function sameBytes(t: ExecutionContext, actual: Uint8Array, expected: Uint8Array, message = 'bytes'): void {
  if (Buffer.compare(actual, expected) === 0) {
    t.pass(message)
    return
  }
  let offset = 0
  while (offset < Math.min(actual.length, expected.length) && actual[offset] === expected[offset]) offset++
  t.fail(`${message}: ${actual.length} bytes, expected ${expected.length}; first difference at offset ${offset}`)
}
