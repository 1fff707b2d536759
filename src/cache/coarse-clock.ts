/**
 * Wall-clock milliseconds read at most once per millisecond: a cache hit checks an expiry,
 * and `Date.now()` on every hit would cost as much as the rest of the hit. The value is
 * kept until a 1 ms timer (unref'd, so it never holds the process) forgets it.
 */
let cached = 0

function forget(): void {
  cached = 0
}

/** Epoch milliseconds, at most ~1 ms old. @internal */
export function coarseNow(): number {
  if (cached !== 0) return cached
  cached = Date.now()
  setTimeout(forget, 1).unref()
  return cached
}
