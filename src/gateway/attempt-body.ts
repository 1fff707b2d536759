import { Readable } from 'node:stream'

/**
 * The client's request body as one attempt sends it. undici destroys the body of a request
 * that fails, even one that failed before a byte was read (a refused connection); destroying
 * this view instead leaves the client's stream whole for a retry on another backend. It
 * reads from the client's stream only as undici reads from it, so back-pressure goes
 * through, and the client's stream tells (`readableDidRead`) whether a retry is still possible.
 */
export class AttemptBody extends Readable {
  private attached = false

  constructor(private readonly source: Readable) {
    super()
  }

  override _read(): void {
    if (!this.attached) {
      this.attached = true
      this.source.on('data', this.onData)
      this.source.once('end', this.onEnd)
      this.source.once('error', this.onError)
      this.source.once('close', this.onClose)
    }
    this.source.resume()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.detach()
    callback(error)
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.source.pause()
  }

  private readonly onEnd = (): void => {
    this.detach()
    this.push(null)
  }

  private readonly onError = (error: Error): void => {
    this.destroy(error)
  }

  /** The client's stream closed before its end: the client went away mid-upload. */
  private readonly onClose = (): void => {
    if (!this.source.readableEnded) this.destroy(new Error('the client closed its request body early'))
  }

  private detach(): void {
    if (!this.attached) return
    this.attached = false
    this.source.pause()
    this.source.off('data', this.onData)
    this.source.off('end', this.onEnd)
    this.source.off('error', this.onError)
    this.source.off('close', this.onClose)
  }
}
