/**
 * A TCP proxy on 127.0.0.1 for fault injection between a client and one server (tc netem is not available to the
 * tests): it forwards bytes both ways and can be told to swallow the replies to the next commands and then reset the
 * client's connection, to pause forwarding (a hung network: connections stay open, nothing arrives), and to close
 * every connection. It understands just enough RESP to count replies.
 */
import net from 'node:net'

/** One client connection and its connection to the server. */
interface Pair {
  client: net.Socket
  server: net.Socket
}

/** Swallows whole RESP2 replies from the server and says when `left` of them have gone by. */
class ReplyCounter {
  private buffered = Buffer.alloc(0)

  constructor(public left: number) {}

  /** Feeds bytes from the server; true once `left` complete replies have been seen. */
  feed(chunk: Buffer): boolean {
    this.buffered = Buffer.concat([this.buffered, chunk])
    while (this.left > 0) {
      const end = replyEnd(this.buffered, 0)
      if (end < 0) break
      this.buffered = this.buffered.subarray(end)
      this.left--
    }
    return this.left === 0
  }
}

/** The offset just past the RESP2 value starting at `offset`, or -1 when it is not complete yet. */
function replyEnd(buffer: Buffer, offset: number): number {
  const lineEnd = buffer.indexOf('\r\n', offset)
  if (lineEnd < 0) return -1
  const type = String.fromCharCode(buffer[offset] ?? 0)
  const header = buffer.toString('latin1', offset + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
    case '-':
    case ':':
      return next
    case '$': {
      const length = Number(header)
      if (length < 0) return next
      return buffer.length >= next + length + 2 ? next + length + 2 : -1
    }
    case '*': {
      let end = next
      for (let i = 0; i < Number(header); i++) {
        end = replyEnd(buffer, end)
        if (end < 0) return -1
      }
      return end
    }
    default:
      throw new Error(`tcp-proxy: unexpected RESP type ${JSON.stringify(type)}`)
  }
}

/** A running proxy from `127.0.0.1:port` to a target port; see the module docs. */
export class TcpProxy {
  private readonly pairs = new Set<Pair>()
  private paused = false
  private drop: { counter: ReplyCounter; pair: Pair | undefined; done: () => void } | undefined

  private constructor(
    private readonly server: net.Server,
    /** The port clients connect to. */
    readonly port: number,
  ) {}

  /** Starts a proxy on a free port of 127.0.0.1 forwarding to `127.0.0.1:targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined
    const server = net.createServer((client) => proxy?.accept(client, targetPort))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('tcp-proxy: no port')
    proxy = new TcpProxy(server, address.port)
    return proxy
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /**
   * Swallows the next `replies` replies the server sends on one connection (the first to receive any), then resets
   * that client connection (TCP RST) and closes its server side. The server has executed the commands; the client
   * never learns their results. Resolves once the connection was reset.
   */
  dropRepliesThenReset(replies = 1): Promise<void> {
    if (this.drop !== undefined) throw new Error('tcp-proxy: a drop is already armed')
    return new Promise((resolve) => {
      this.drop = {
        counter: new ReplyCounter(replies),
        pair: undefined,
        done: () => {
          this.drop = undefined
          resolve()
        },
      }
    })
  }

  /** Stops forwarding in both directions on every connection, new ones included; bytes wait in socket buffers. */
  pause(): void {
    this.paused = true
    for (const { client, server } of this.pairs) {
      client.pause()
      server.pause()
    }
  }

  /** Forwards again what `pause()` held back, and everything after. */
  resume(): void {
    this.paused = false
    for (const { client, server } of this.pairs) {
      client.resume()
      server.resume()
    }
  }

  /** Resets every open connection (both sides). */
  closeConnections(): void {
    for (const pair of this.pairs) this.reset(pair)
  }

  /** Stops listening and resets every connection. */
  async close(): Promise<void> {
    this.closeConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: net.Socket, targetPort: number): void {
    const server = net.connect(targetPort, '127.0.0.1')
    const pair: Pair = { client, server }
    this.pairs.add(pair)
    if (this.paused) {
      client.pause()
      server.pause()
    }
    client.on('data', (chunk: Buffer) => server.write(chunk))
    server.on('data', (chunk: Buffer) => this.fromServer(pair, chunk))
    const end = (): void => {
      if (!this.pairs.delete(pair)) return
      client.destroy()
      server.destroy()
    }
    for (const socket of [client, server]) {
      // Resets are the point of this proxy; a socket error just ends the pair.
      socket.on('error', end)
      socket.on('close', end)
    }
  }

  private fromServer(pair: Pair, chunk: Buffer): void {
    const drop = this.drop
    if (drop === undefined || (drop.pair !== undefined && drop.pair !== pair)) {
      pair.client.write(chunk)
      return
    }
    drop.pair = pair
    if (!drop.counter.feed(chunk)) return
    this.reset(pair)
    drop.done()
  }

  private reset(pair: Pair): void {
    this.pairs.delete(pair)
    pair.client.resetAndDestroy()
    pair.server.destroy()
  }
}
