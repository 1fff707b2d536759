/**
 * Raw HTTP/1.1 exchanges for the bad-input scenario: bytes no HTTP client would send, and connections that send too
 * slowly. Each outcome says whether the server answered (its status), closed the connection, or did neither in time.
 */
import net from 'node:net'

export { seededRandom } from '../__test__/helpers/random'

/** How the server dealt with one raw request. */
export interface RawOutcome {
  /** The status of the first response, if one arrived. */
  status: number | undefined
  /** The server closed the connection. */
  closed: boolean
  /** Neither an answer nor a close within the wait. */
  hung: boolean
  /** Time to the first answer or the close, ms. */
  ms: number
}

/**
 * Sends `bytes` on a new connection to `port` and waits up to `waitMs` for a response's status line or the close.
 * `slowly` sends one byte each `slowly` ms instead (a slowloris client), stopping when the server answers or closes.
 */
export function rawExchange(port: number, bytes: Buffer, waitMs: number, slowly?: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const started = performance.now()
    const socket = net.connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let done = false
    let drip: NodeJS.Timeout | undefined
    const finish = (outcome: Omit<RawOutcome, 'ms'>): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearInterval(drip)
      socket.destroy()
      resolve({ ...outcome, ms: performance.now() - started })
    }
    const timer = setTimeout(() => finish({ status: undefined, closed: false, hung: true }), waitMs)
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(received.toString('latin1', 0, Math.min(received.length, 64)))
      if (line !== null) finish({ status: Number(line[1]), closed: false, hung: false })
    })
    // A reset is the server's refusal too.
    socket.on('error', () => finish({ status: undefined, closed: true, hung: false }))
    socket.on('close', () => finish({ status: undefined, closed: true, hung: false }))
    socket.on('connect', () => {
      if (slowly === undefined) {
        socket.write(bytes)
        return
      }
      let sent = 0
      drip = setInterval(() => {
        if (sent < bytes.length && !socket.destroyed) socket.write(bytes.subarray(sent, ++sent))
      }, slowly)
    })
  })
}

/** `input` with 1–4 random edits: bytes flipped, inserted (control bytes, long runs), removed or repeated. */
export function mutate(input: Buffer, random: () => number): Buffer {
  let bytes = input
  const int = (below: number): number => Math.floor(random() * below)
  for (let edits = 1 + int(4); edits > 0; edits--) {
    const at = int(bytes.length + 1)
    switch (int(6)) {
      case 0: {
        const copy = Buffer.from(bytes)
        if (copy.length > 0) copy[Math.min(at, copy.length - 1)] = int(256)
        bytes = copy
        break
      }
      case 1:
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([[0, 10, 13, 32, 58, 127, 255][int(7)] ?? 0]),
          bytes.subarray(at),
        ])
        break
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + int(16))])
        break
      case 3: {
        const from = int(bytes.length)
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(from, from + 1 + int(64)), bytes.subarray(at)])
        break
      }
      case 4:
        // Long runs past the header and URL limits.
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(1 + int(128 * 1024), 'a'), bytes.subarray(at)])
        break
      default:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(String(int(2 ** 31))), bytes.subarray(at)])
    }
  }
  return bytes
}
