import { InvalidArgumentError } from '../core/errors'
import { native } from '../core/native'
import { knownOptions, optionNames } from '../core/validate'
import { negotiateEncoding, type ContentEncoding } from './accept-encoding'
import type { CompressionAlgorithm } from './algorithms'

/** How much CPU a compression may cost: the trade between speed and ratio. */
export type CompressionBudget = 'speed' | 'balanced' | 'size'

/** Options of {@link chooseCompression}. */
export interface ChooseOptions {
  /**
   * The request's `Accept-Encoding` header: the choice is limited to the codings it
   * accepts, picked by q-value. Omit it outside HTTP to let optlayer use any codec.
   */
  accept?: string
  /** CPU budget. @default 'balanced' */
  budget?: CompressionBudget
  /** Payloads smaller than this are not worth compressing. @default 1024 */
  minBytes?: number
  /** Estimated compressed/original ratio above which data counts as incompressible. @default 0.9 */
  maxRatio?: number
}

/** What {@link chooseCompression} decided: an algorithm and a level, or no compression. */
export interface CompressionChoice {
  algorithm: CompressionAlgorithm
  level: number | undefined
  /** The sampled ratio estimate (compressed/original, from lz4) that informed the choice. */
  estimatedRatio: number
}

/** Defaults of {@link ChooseOptions}. */
export const CHOOSE_DEFAULTS = Object.freeze({ budget: 'balanced' as CompressionBudget, minBytes: 1024, maxRatio: 0.9 })

const OPTION_NAMES = optionNames<ChooseOptions>()(CHOOSE_DEFAULTS, { accept: true })

/** Levels per HTTP coding and budget; large payloads step one column toward speed. */
const HTTP_LEVELS: Record<ContentEncoding, Record<CompressionBudget, number>> = {
  zstd: { speed: 1, balanced: 3, size: 12 },
  br: { speed: 1, balanced: 5, size: 9 },
  gzip: { speed: 1, balanced: 6, size: 9 },
  deflate: { speed: 1, balanced: 6, size: 9 },
}
const FREE_CHOICE: Record<CompressionBudget, { algorithm: CompressionAlgorithm; level: number | undefined }> = {
  speed: { algorithm: 'lz4', level: undefined },
  balanced: { algorithm: 'zstd', level: 3 },
  size: { algorithm: 'zstd', level: 12 },
}
const LARGE_PAYLOAD_BYTES = 1 << 20
const SLOWER: Record<CompressionBudget, CompressionBudget> = { speed: 'speed', balanced: 'speed', size: 'balanced' }

const SAMPLE_SLICE_BYTES = 1024
const SAMPLE_SLICES = 4
const sampleScratch = Buffer.allocUnsafeSlow(SAMPLE_SLICE_BYTES * SAMPLE_SLICES)
const sampleOut = Buffer.allocUnsafeSlow(2 * SAMPLE_SLICE_BYTES * SAMPLE_SLICES)

/**
 * Estimates compressibility from up to four 1 KiB slices spread over the payload,
 * compressed with lz4 (a few microseconds): cheap enough to run per response.
 */
function estimateRatio(bytes: Uint8Array): number {
  if (bytes.length <= sampleScratch.length) {
    return native.compressInto(native.Codec.Lz4, bytes, sampleOut, undefined, undefined) / Math.max(bytes.length, 1)
  }
  const stride = Math.floor((bytes.length - SAMPLE_SLICE_BYTES) / (SAMPLE_SLICES - 1))
  for (let i = 0; i < SAMPLE_SLICES; i++) {
    const start = i * stride
    sampleScratch.set(bytes.subarray(start, start + SAMPLE_SLICE_BYTES), i * SAMPLE_SLICE_BYTES)
  }
  return native.compressInto(native.Codec.Lz4, sampleScratch, sampleOut, undefined, undefined) / sampleScratch.length
}

/**
 * Picks an algorithm and level for `payload` from its size, a sampled compressibility
 * estimate, the accepted encodings and a CPU budget. Returns `undefined` when the payload
 * is too small, looks incompressible, or the client accepts none of our codings.
 *
 * @example
 * ```ts
 * const choice = chooseCompression(body, { accept: req.headers['accept-encoding'] })
 * if (choice) res.setHeader('content-encoding', choice.algorithm)
 * ```
 */
export function chooseCompression(payload: Uint8Array, options: ChooseOptions = {}): CompressionChoice | undefined {
  if (!(payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Buffer or Uint8Array')
  knownOptions('options', options, OPTION_NAMES)
  const budget = options.budget ?? CHOOSE_DEFAULTS.budget
  if (!Object.hasOwn(FREE_CHOICE, budget)) {
    throw new InvalidArgumentError(`budget must be 'speed', 'balanced' or 'size', got ${String(budget)}`)
  }
  if (payload.length < (options.minBytes ?? CHOOSE_DEFAULTS.minBytes)) return undefined
  const http = options.accept === undefined ? undefined : negotiateEncoding(options.accept)
  if (options.accept !== undefined && http === undefined) return undefined
  const estimatedRatio = estimateRatio(payload)
  if (estimatedRatio > (options.maxRatio ?? CHOOSE_DEFAULTS.maxRatio)) return undefined
  const effective = payload.length > LARGE_PAYLOAD_BYTES ? SLOWER[budget] : budget
  if (http === undefined) return { ...FREE_CHOICE[effective], estimatedRatio }
  return { algorithm: http, level: HTTP_LEVELS[http][effective], estimatedRatio }
}
