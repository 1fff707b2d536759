import { LatencyHistogram, type LatencySnapshot } from './latency-histogram'

/** Records kept in JavaScript before one native call hands them over. */
const BATCH = 512

/**
 * A native HDR histogram recorded through a JavaScript buffer: a native call per record
 * (~45 ns) is a sizeable share of a task or a pool acquire that costs a few hundred, one per
 * 512 records is not. Reads flush first, so they see every record.
 * @internal
 */
export class BufferedHistogram {
  private readonly histogram = new LatencyHistogram()
  /** The native histogram's options in effect (range and precision). */
  readonly options = this.histogram.options
  private readonly buffer = new Float64Array(BATCH)
  private length = 0

  record(ms: number): void {
    this.buffer[this.length++] = ms
    if (this.length === BATCH) this.flush()
  }

  snapshot(): LatencySnapshot {
    this.flush()
    return this.histogram.snapshot()
  }

  close(): void {
    this.flush()
    this.histogram.close()
  }

  private flush(): void {
    if (this.length === 0) return
    this.histogram.recordMany(this.buffer, this.length)
    this.length = 0
  }
}
