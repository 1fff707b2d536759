/**
 * Bad input to the codecs: fuzzed compressed data for every algorithm and the cargo-fuzz corpora (each decode ends in an
 * output or a typed error with a stable code, never another error or a crash), decompression bombs (refused at the default output cap, quickly,
 * with peak memory bounded by the cap) and headers that claim a huge size (nothing allocated for the claim). Bombs and
 * lying headers run in fresh processes so their peak resident memory is their own.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'

import { COMPRESSION_ALGORITHMS, COMPRESSOR_DEFAULTS, Compressor, type CompressionAlgorithm } from 'optlayer'

import { replayCorpora } from '../fuzz-corpora'
import { mutate, seededRandom } from '../raw-http'
import { atMost, type Check, type Scenario, type ScenarioResult } from '../scenario'

const SEED = 20261207
const MIB = 2 ** 20
/** Peak memory a bomb may add beyond the output cap: the input, the runtime's own growth. */
const BOMB_SLACK_BYTES = 48 * MIB
/** Peak memory a lying header may add: nothing is allocated for the claim. */
const LIE_LIMIT_BYTES = 16 * MIB
const BOMB_TIME_LIMIT_MS = 2_000
/** Where `scripts/fuzz.sh` leaves each target's corpus (the test command's fuzz lane, or a run by hand). */
const CORPUS_ROOT = path.join(__dirname, '..', '..', 'fuzz', 'corpus')

/** What `decompress-child.ts` reports. */
interface ChildReport {
  code: string | undefined
  outputBytes: number
  ms: number
  peakGrowthBytes: number
}

async function decompressInChild(algorithm: CompressionAlgorithm, input: Buffer, dir: string): Promise<ChildReport> {
  const file = path.join(dir, `${algorithm}.bin`)
  await writeFile(file, input)
  const child = path.join(__dirname, '..', 'decompress-child.ts')
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', child, algorithm, file], {
    cwd: path.join(__dirname, '..', '..'),
  })
  return JSON.parse(stdout) as ChildReport
}

/** A sample worth compressing: repetitive JSON-like text with some variety. */
function sample(): Buffer {
  const random = seededRandom(SEED)
  const items = Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}`, score: Math.floor(random() * 1e6) }))
  return Buffer.from(JSON.stringify(items))
}

/** Headers that claim far more output than they hold. */
function lyingInputs(): { algorithm: CompressionAlgorithm; what: string; input: Buffer }[] {
  const gzip = gzipSync(Buffer.from('hello'))
  gzip.writeUInt32LE(0xffffffff, gzip.length - 4) // ISIZE: 4 GiB - 1
  const zstd = Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), // magic
    Buffer.from([0xe0]), // single segment, 8-byte content size
    Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), // content size 2^40
    Buffer.from([0x01, 0x00, 0x00]), // last block, raw, empty
  ])
  const snappy = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, ...Buffer.from('hello')]) // length 4 GiB - 1
  return [
    { algorithm: 'gzip', what: 'gzip ISIZE 4 GiB', input: gzip },
    { algorithm: 'zstd', what: 'zstd content size 1 TiB', input: zstd },
    { algorithm: 'snappy', what: 'snappy length 4 GiB', input: snappy },
  ]
}

export const badCodecInput: Scenario = {
  name: 'bad-codec-input',
  inTestCommand: true,
  async run({ short }): Promise<ScenarioResult> {
    const casesPerCodec = short ? 300 : 5_000
    const bombBytes = short ? 256 * MIB : 1024 * MIB
    const cap = COMPRESSOR_DEFAULTS.maxOutputBytes
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optlayer-chaos-'))
    try {
      // Fuzzed inputs: every decode ends in output or a typed error; async decodes agree.
      const plain = sample()
      const random = seededRandom(SEED)
      let decoded = 0
      let refused = 0
      const uncoded: string[] = []
      for (const algorithm of COMPRESSION_ALGORITHMS) {
        const valid = Compressor.compress(plain, algorithm)
        for (let i = 0; i < casesPerCodec; i++) {
          const input = mutate(valid, random)
          for (const run of i % 10 === 0 ? ['sync', 'async'] : ['sync']) {
            try {
              if (run === 'sync') Compressor.decompress(input, algorithm)
              else await Compressor.decompressAsync(input, algorithm)
              decoded++
            } catch (error) {
              const code = (error as { code?: unknown }).code
              if (typeof code === 'string' && code.startsWith('ERR_OPTLAYER_')) refused++
              else uncoded.push(`${algorithm} #${i} ${run}: ${(error as Error).message}`)
            }
          }
        }
      }

      const corpora = await replayCorpora(CORPUS_ROOT, short ? 200 : Number.POSITIVE_INFINITY)

      // Bombs: zeros compressed, decoded with the default cap in a fresh process each.
      const zeros = Buffer.alloc(bombBytes)
      const bombs: { algorithm: CompressionAlgorithm; inputBytes: number; report: ChildReport }[] = []
      for (const algorithm of COMPRESSION_ALGORITHMS) {
        // The fastest level of those that have levels: a bomb's size barely depends on it.
        const bomb = Compressor.compress(
          zeros,
          algorithm,
          algorithm === 'snappy' || algorithm === 'lz4' ? {} : { level: 1 },
        )
        bombs.push({ algorithm, inputBytes: bomb.length, report: await decompressInChild(algorithm, bomb, dir) })
      }
      const lies = []
      for (const lie of lyingInputs())
        lies.push({ ...lie, report: await decompressInChild(lie.algorithm, lie.input, dir) })

      const bombNotRefused = bombs.filter((b) => b.report.code !== 'ERR_OPTLAYER_OUTPUT_LIMIT')
      const slowestBombMs = Math.max(...bombs.map((b) => b.report.ms))
      const bombPeak = Math.max(...bombs.map((b) => b.report.peakGrowthBytes))
      const liesNotRefused = lies.filter((l) => l.report.code === undefined || l.report.code.startsWith('uncoded'))
      const liePeak = Math.max(...lies.map((l) => l.report.peakGrowthBytes))
      const checks: Check[] = [
        atMost('fuzzed inputs failing without a typed error', uncoded.length, 0),
        atMost('fuzz corpus inputs failing without a typed error', corpora.uncoded.length, 0),
        atMost('bombs not refused at the output cap', bombNotRefused.length, 0),
        atMost('slowest bomb refusal', slowestBombMs, BOMB_TIME_LIMIT_MS, ' ms'),
        atMost('largest peak memory growth for a bomb', bombPeak / MIB, (cap + BOMB_SLACK_BYTES) / MIB, ' MiB'),
        atMost('lying headers not refused with a typed error', liesNotRefused.length, 0),
        atMost('largest peak memory growth for a lying header', liePeak / MIB, LIE_LIMIT_BYTES / MIB, ' MiB'),
      ]
      return {
        name: this.name,
        load: 'none (in-process and one process per bomb)',
        faults: `${casesPerCodec} fuzzed inputs x ${COMPRESSION_ALGORITHMS.length} codecs (seed ${SEED}), ${corpora.inputs} inputs of ${corpora.targets} cargo-fuzz corpora, ${bombs.length} bombs of ${bombBytes / MIB} MiB, ${lies.length} lying headers`,
        requests: decoded + refused + uncoded.length + corpora.inputs + bombs.length + lies.length,
        failed: uncoded.length + corpora.uncoded.length + bombNotRefused.length + liesNotRefused.length,
        lost: 0,
        resurrected: 0,
        recoveryMs: undefined,
        figures: {
          'fuzzed: decoded': decoded,
          'fuzzed: refused with a typed error': refused,
          'fuzzed: failed otherwise (first)': uncoded[0] ?? 'none',
          'fuzz corpora: inputs replayed': corpora.inputs,
          'fuzz corpora: decoded': corpora.decoded,
          'fuzz corpora: refused with a typed error': corpora.refused,
          'fuzz corpora: failed otherwise (first)': corpora.uncoded[0] ?? 'none',
          ...Object.fromEntries(
            bombs.map((b) => [
              `bomb ${b.algorithm} (${(b.inputBytes / 1024).toFixed(0)} KiB in)`,
              `${b.report.code ?? `${b.report.outputBytes} bytes out`}, ${b.report.ms.toFixed(0)} ms, peak +${(b.report.peakGrowthBytes / MIB).toFixed(0)} MiB`,
            ]),
          ),
          ...Object.fromEntries(
            lies.map((l) => [
              l.what,
              `${l.report.code ?? `${l.report.outputBytes} bytes out`}, peak +${(l.report.peakGrowthBytes / MIB).toFixed(1)} MiB`,
            ]),
          ),
        },
        checks,
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  },
}
