/**
 * An HTTP-date (RFC 9110 §5.6.7) as epoch ms, or `undefined` when absent or invalid. The
 * three historical formats are all accepted (`Date.parse` reads IMF-fixdate, RFC 850 and
 * asctime dates); anything else, a bare number included, is invalid.
 * @internal
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  // A bare number ("0", "-1") is not a date; `Date.parse` would read it as a year.
  if (value === undefined || value.length > 64 || !/[a-z]/i.test(value)) return undefined
  const ms = Date.parse(value)
  return Number.isFinite(ms) ? ms : undefined
}

/** `ms` as an IMF-fixdate, the form senders must generate (RFC 9110 §5.6.7). @internal */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
