/**
 * One decompression in a fresh process, for the bad-input scenario's bombs: `decompress-child.ts <algorithm> <file>
 * [framed]` decompresses the file's bytes with the default output cap and prints, as JSON, the error code (or the
 * output size), the time taken and how far the process's resident memory peaked above where it stood just before.
 */
import { readFileSync, writeFileSync } from 'node:fs'

import { Compressor, type CompressionAlgorithm } from 'optlayer'

/** A field of /proc/self/status, in bytes. */
function statusBytes(field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))
  return kb === null ? 0 : Number(kb[1]) * 1024
}

const [algorithm, file, framed] = process.argv.slice(2)
const input = readFileSync(file ?? '')
// Linux resets the peak (VmHWM) to the current RSS on "5": the peak read afterwards is this call's alone.
writeFileSync('/proc/self/clear_refs', '5')
const rssBefore = statusBytes('VmRSS')
const started = performance.now()
let code: string | undefined
let outputBytes = 0
try {
  outputBytes = Compressor.decompress(input, algorithm as CompressionAlgorithm, { framed: framed === 'framed' }).length
} catch (error) {
  code = (error as { code?: string }).code ?? `uncoded ${(error as Error).name}: ${(error as Error).message}`
}
const ms = performance.now() - started
const peakGrowthBytes = statusBytes('VmHWM') - rssBefore
process.stdout.write(`${JSON.stringify({ code, outputBytes, ms, peakGrowthBytes })}\n`)
