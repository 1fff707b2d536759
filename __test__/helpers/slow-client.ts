import { connect } from 'node:net'

/** What {@link slowloris} saw. */
export interface SlowClientResult {
  /** True if the server closed the socket; false if the client gave up first. */
  closedByServer: boolean
  /** How long the socket stayed open, in ms. */
  openMs: number
  /** Everything the server sent. */
  received: string
}

/**
 * A slowloris client: opens a socket to `url`'s host and port and sends a request head one
 * header line every `everyMs`, never finishing it. Resolves once the server closes the socket,
 * or after `giveUpMs`.
 */
export function slowloris(url: URL, { everyMs = 100, giveUpMs = 15_000 } = {}): Promise<SlowClientResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    let received = ''
    let gaveUp = false
    let trickle: NodeJS.Timeout | undefined
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\n`)
      trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), everyMs)
    })
    const giveUp = setTimeout(() => {
      gaveUp = true
      socket.destroy()
    }, giveUpMs)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    // A write racing the server's close fails with EPIPE or ECONNRESET: the close is what counts.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(trickle)
      clearTimeout(giveUp)
      resolve({ closedByServer: !gaveUp, openMs: Date.now() - started, received })
    })
  })
}
