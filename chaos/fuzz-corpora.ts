/**
 * The cargo-fuzz corpora replayed through the package's decoders, as JavaScript callers reach them. `scripts/fuzz.sh`
 * leaves them under `fuzz/corpus/<target>/`: our encoder's seeds and every input libFuzzer kept for new coverage,
 * which makes them the inputs most likely to reach an unusual path of a decoder. Each must decode or be refused with
 * an `ERR_OPTLAYER_` code, through the one-shot calls and the streams alike.
 */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

import { Compressor, createDecompressStream, type CompressionAlgorithm, type StreamAlgorithm } from 'optlayer'

import { seededRandom } from './raw-http'

/** The one-shot targets and the algorithm each decodes. */
const ONE_SHOT: Readonly<Record<string, CompressionAlgorithm>> = {
  gzip: 'gzip',
  deflate: 'deflate',
  zstd: 'zstd',
  brotli: 'br',
  lz4: 'lz4',
  snappy: 'snappy',
}
/** Targets of formats only the streams decode. */
const STREAMED: Readonly<Record<string, StreamAlgorithm>> = { deflate_raw: 'deflate-raw', snappy_framed: 'snappy' }
/** The `stream_decoder` target: its first byte picks the codec in this order (`STREAMABLE` in `fuzz/src/lib.rs`). */
const STREAM_TARGET = 'stream_decoder'
const STREAMABLE: readonly StreamAlgorithm[] = ['gzip', 'deflate', 'deflate-raw', 'snappy', 'zstd', 'br', 'lz4']

/** What a replay did. */
export interface CorpusReplay {
  /** Targets with a corpus. */
  targets: number
  inputs: number
  decoded: number
  refused: number
  /** Inputs that failed without a typed error: target, file and message. */
  uncoded: string[]
}

/** Replays up to `perTarget` inputs of each target's corpus under `root` (none there: nothing replayed). */
export async function replayCorpora(root: string, perTarget: number): Promise<CorpusReplay> {
  const replay: CorpusReplay = { targets: 0, inputs: 0, decoded: 0, refused: 0, uncoded: [] }
  const targets = await readdir(root).catch(() => [])
  for (const target of targets.sort()) {
    const decode = decoderFor(target)
    if (decode === undefined) continue
    replay.targets++
    const files = (await readdir(path.join(root, target))).sort().slice(0, perTarget)
    for (const [i, file] of files.entries()) {
      const input = await readFile(path.join(root, target, file))
      replay.inputs++
      try {
        await decode(input, i)
        replay.decoded++
      } catch (error) {
        const code = (error as { code?: unknown }).code
        if (typeof code === 'string' && code.startsWith('ERR_OPTLAYER_')) replay.refused++
        else replay.uncoded.push(`${target}/${file}: ${(error as Error).message}`)
      }
    }
  }
  return replay
}

type Decode = (input: Buffer, index: number) => Promise<unknown>

function decoderFor(target: string): Decode | undefined {
  const oneShot = ONE_SHOT[target]
  if (oneShot !== undefined) {
    // A tenth through the worker pool: the async path has its own buffers and error mapping.
    return async (input, i) =>
      i % 10 === 0 ? Compressor.decompressAsync(input, oneShot) : Compressor.decompress(input, oneShot)
  }
  const streamed = STREAMED[target]
  if (streamed !== undefined) return (input) => decodeStream(streamed, [input])
  if (target !== STREAM_TARGET) return undefined
  return async (input) => {
    const [pick, seed] = input
    if (pick === undefined || seed === undefined) return undefined
    const algorithm = STREAMABLE[pick % STREAMABLE.length] as StreamAlgorithm
    return decodeStream(algorithm, cut(input.subarray(2), seed))
  }
}

/** `input` in chunks of 1 to 64 bytes, sized by a generator seeded with `seed` (the target cuts its own way). */
function cut(input: Buffer, seed: number): Buffer[] {
  const random = seededRandom(seed)
  const chunks: Buffer[] = []
  for (let at = 0; at < input.length;) {
    const size = 1 + Math.floor(random() * 64)
    chunks.push(input.subarray(at, at + size))
    at += size
  }
  return chunks
}

async function decodeStream(algorithm: StreamAlgorithm, chunks: readonly Buffer[]): Promise<void> {
  const stream = createDecompressStream(algorithm)
  const drained = (async () => {
    for await (const _ of stream);
  })()
  for (const chunk of chunks) stream.write(chunk)
  stream.end()
  await drained
}
