/** What every chaos scenario reports, and the checks that decide whether it passed. */

/** One pass/fail condition of a scenario, with the figure it was decided on. */
export interface Check {
  what: string
  ok: boolean
  detail: string
}

/** A scenario's figures: the README table's row and `benchmark/results/chaos.json`'s entry. */
export interface ScenarioResult {
  name: string
  /** The load held while faults were injected. */
  load: string
  /** The faults injected. */
  faults: string
  requests: number
  failed: number
  /** Tasks or requests sent and never settled. */
  lost: number
  /** Values that read back as they were before a write or delete (0 expected). */
  resurrected: number
  /** The slowest recovery the scenario measured, ms (undefined when it has nothing to recover from). */
  recoveryMs: number | undefined
  /** Everything else measured, by name. */
  figures: Record<string, number | string>
  checks: Check[]
  /** When it ran (ISO 8601), set by the runner. */
  ranAt?: string
}

/** How long a scenario's phases last: `short` is the test command's bounded version. */
export interface ScenarioSize {
  short: boolean
}

/** A named scenario of the suite. */
export interface Scenario {
  name: string
  /** Whether the test command runs its short version. */
  inTestCommand: boolean
  run(size: ScenarioSize): Promise<ScenarioResult>
}

/** A check that `value` is at most `limit`. */
export function atMost(what: string, value: number | undefined, limit: number, unit = ''): Check {
  return {
    what,
    ok: value !== undefined && value <= limit,
    detail: `${value === undefined ? 'never' : `${round(value)}${unit}`} (limit ${limit}${unit})`,
  }
}

/** A check that `value` is at least `limit`. */
export function atLeast(what: string, value: number, limit: number, unit = ''): Check {
  return { what, ok: value >= limit, detail: `${round(value)}${unit} (at least ${limit}${unit})` }
}

/** Rounds a figure for reports: integers stay, the rest keep 3 significant digits. */
export function round(value: number): number {
  return Number.isInteger(value) ? value : Number(value.toPrecision(3))
}

/** The `q` quantile (0-1) of `values`, nearest rank; 0 when there are none. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `probe` every `intervalMs` until it is true; resolves with the ms it took, or undefined after `timeoutMs`. */
export async function timeUntil(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number | undefined> {
  const start = performance.now()
  while (performance.now() - start < timeoutMs) {
    if (await probe()) return performance.now() - start
    await sleep(intervalMs)
  }
  return undefined
}
