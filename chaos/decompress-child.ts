/**
 * One decompression in a fresh process, for the bad-input scenario's bombs: `decompress-child.ts <algorithm> <file>
 * [framed]` decompresses the file's bytes with the default output cap and prints, as JSON, the error code (or the
 * output size), the time taken and how much the process's peak resident memory grew.
 */
import { readFileSync } from 'node:fs'

import { Compressor, type CompressionAlgorithm } from 'optlayer'

const [algorithm, file, framed] = process.argv.slice(2)
const input = readFileSync(file ?? '')
const peakBefore = process.resourceUsage().maxRSS
const started = performance.now()
let code: string | undefined
let outputBytes = 0
try {
  outputBytes = Compressor.decompress(input, algorithm as CompressionAlgorithm, { framed: framed === 'framed' }).length
} catch (error) {
  code = (error as { code?: string }).code ?? `uncoded ${(error as Error).name}: ${(error as Error).message}`
}
const ms = performance.now() - started
const peakGrowthBytes = (process.resourceUsage().maxRSS - peakBefore) * 1024
process.stdout.write(`${JSON.stringify({ code, outputBytes, ms, peakGrowthBytes })}\n`)
