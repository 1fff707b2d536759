import { Transform, type TransformCallback } from 'node:stream'

/**
 * A pass-through that also keeps a copy of the bytes while they total at most `limit`:
 * the body goes on streaming to the client with back-pressure, and a body small enough to
 * store is there in whole at the end. Past the limit the copy is dropped at once, so a large
 * body never sits in memory.
 */
export class BodyTap extends Transform {
  private chunks: Buffer[] = []
  private length = 0
  /** The body went past the limit: nothing is kept. */
  overflowed = false

  constructor(private readonly limit: number) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.overflowed) {
      this.length += chunk.length
      if (this.length > this.limit) {
        this.overflowed = true
        this.chunks = []
      } else this.chunks.push(chunk)
    }
    callback(null, chunk)
  }

  /** The bytes seen, when they stayed within the limit. */
  body(): Buffer | undefined {
    return this.overflowed ? undefined : Buffer.concat(this.chunks, this.length)
  }
}
