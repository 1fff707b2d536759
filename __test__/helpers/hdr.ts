/**
 * Whether a latency figure reported by an HDR histogram equals `exact` within its precision: 3 significant figures,
 * with the microsecond floor of the default range.
 */
export function withinPrecision(reported: number, exact: number): boolean {
  return Math.abs(reported - exact) <= Math.max(exact * 1e-3, 0.001)
}
