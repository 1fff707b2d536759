import type { CompressionAlgorithm } from './algorithms'

/** Counters of one algorithm and direction. */
export interface CodecCounters {
  /** Calls that succeeded. */
  calls: number
  /** Bytes given to the codec. */
  bytesIn: number
  /** Bytes it produced. */
  bytesOut: number
  /** Seconds spent; small synchronous calls are sampled (see {@link CODEC_TIMING_SAMPLE}). */
  seconds: number
}

/** Direction of a codec call. */
export type CodecOperation = 'compress' | 'decompress'

/**
 * Reading the clock costs about 100 ns here, a large share of a 1 KiB call, so synchronous
 * calls under 16 KiB time one call in this many and count it this many times.
 */
export const CODEC_TIMING_SAMPLE = 64
const SAMPLE_BELOW_BYTES = 16 * 1024

/** By direction, then algorithm: no key string is built per call (one was 7 % of a 1 KiB zstd decompress). */
const counters: Record<CodecOperation, Map<CompressionAlgorithm, CodecCounters>> = {
  compress: new Map(),
  decompress: new Map(),
}
let sampleTick = 0

function countersOf(operation: CodecOperation, algorithm: CompressionAlgorithm): CodecCounters {
  const byAlgorithm = counters[operation]
  let entry = byAlgorithm.get(algorithm)
  if (entry === undefined) {
    entry = { calls: 0, bytesIn: 0, bytesOut: 0, seconds: 0 }
    byAlgorithm.set(algorithm, entry)
  }
  return entry
}

/** Whether to time this synchronous call of `bytes` input bytes. @internal */
export function shouldTime(bytes: number): boolean {
  return bytes >= SAMPLE_BELOW_BYTES || ++sampleTick % CODEC_TIMING_SAMPLE === 0
}

/**
 * Records one successful call. `seconds` is undefined for an untimed sampled call.
 * @internal
 */
export function recordCodecCall(
  operation: CodecOperation,
  algorithm: CompressionAlgorithm,
  bytesIn: number,
  bytesOut: number,
  seconds: number | undefined,
): void {
  const entry = countersOf(operation, algorithm)
  entry.calls++
  entry.bytesIn += bytesIn
  entry.bytesOut += bytesOut
  if (seconds !== undefined) entry.seconds += bytesIn < SAMPLE_BELOW_BYTES ? seconds * CODEC_TIMING_SAMPLE : seconds
}

/** A snapshot of every codec counter of this thread, keyed by operation then algorithm. */
export function codecStats(): Record<CodecOperation, Partial<Record<CompressionAlgorithm, CodecCounters>>> {
  const snapshot: Record<CodecOperation, Partial<Record<CompressionAlgorithm, CodecCounters>>> = {
    compress: {},
    decompress: {},
  }
  for (const operation of ['compress', 'decompress'] as const) {
    for (const [algorithm, value] of counters[operation]) snapshot[operation][algorithm] = { ...value }
  }
  return snapshot
}
