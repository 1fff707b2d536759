/**
 * Sliding-window reads of a cumulative `LatencyHistogram`: checkpoints (serialized
 * snapshots, a few KiB each) taken every `windowMs / slices`, the oldest one still needed
 * serving as the `since` of a read. A read then covers between `windowMs` and
 * `windowMs + windowMs / slices` of the most recent history, in constant memory and
 * without a second histogram on the recording path.
 * @internal
 */
export class LatencyWindow {
  private readonly checkpoints: { at: number; data: Uint8Array }[] = []
  private readonly sliceMs: number

  constructor(
    private readonly windowMs: number,
    slices = 6,
  ) {
    this.sliceMs = windowMs / slices
  }

  /**
   * Takes a checkpoint from `take` (a cumulative serialized histogram) when one is due at
   * `now` (milliseconds), and drops those older than the window needs.
   */
  tick(now: number, take: () => Uint8Array): void {
    const last = this.checkpoints[this.checkpoints.length - 1]
    if (last === undefined || now - last.at >= this.sliceMs) this.checkpoints.push({ at: now, data: take() })
    // Keep the newest checkpoint at least a window old as the base; drop everything before it.
    while ((this.checkpoints[1]?.at ?? Infinity) <= now - this.windowMs) this.checkpoints.shift()
  }

  /** The checkpoint a read at `now` starts from, or undefined while none was taken (read everything). */
  since(): Uint8Array | undefined {
    return this.checkpoints[0]?.data
  }

  /** Seconds a read at `now` covers: since the base checkpoint, or undefined when it covers everything. */
  coveredSeconds(now: number): number | undefined {
    const base = this.checkpoints[0]
    return base === undefined ? undefined : (now - base.at) / 1000
  }
}
