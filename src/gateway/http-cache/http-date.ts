/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^[a-z]{3}, \d{2} [a-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/i
/** Obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC_850 = /^[a-z]{6,9}, \d{2}-[a-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/i
/** Obsolete asctime form, in UTC though it says no zone: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = /^[a-z]{3} [a-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/i

/**
 * An HTTP-date (RFC 9110 §5.6.7) as epoch ms, or `undefined` when absent or invalid. The
 * three forms a recipient must accept are read (names case-insensitively); anything else
 * (a bare number, a list of dates, a date with another zone) is invalid rather than left
 * to `Date.parse`'s guesses.
 * @internal
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  let ms = NaN
  if (IMF_FIXDATE.test(text) || RFC_850.test(text)) ms = Date.parse(text)
  else if (ASCTIME.test(text)) ms = Date.parse(`${text} GMT`)
  return Number.isFinite(ms) ? ms : undefined
}

/** `ms` as an IMF-fixdate, the form senders must generate (RFC 9110 §5.6.7). @internal */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
