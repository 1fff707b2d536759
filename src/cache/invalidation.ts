import { randomBytes } from 'node:crypto'

import type Redis from 'ioredis'
import type { Cluster } from 'ioredis'

/** What an invalidation message says about its key. @internal */
export type InvalidationOp = 'set' | 'delete' | 'clear'

const OP_CODES: Record<InvalidationOp, string> = { set: 's', delete: 'd', clear: 'c' }
const OPS: Record<string, InvalidationOp> = { s: 'set', d: 'delete', c: 'clear' }
/** The op code of a heartbeat: the sender's last sequence number, no change. */
const HEARTBEAT = 'h'

/** Senders remembered for gap detection; beyond this the oldest are forgotten. */
const MAX_SENDERS = 10_000

/** What the cache does with what {@link Invalidation} hears. @internal */
export interface InvalidationHandler {
  /** Another instance changed `key`: drop the local copies. */
  onKey(key: string, op: Exclude<InvalidationOp, 'clear'>): void
  /** Another instance emptied the cache: drop every local copy and every pending change. */
  onClear(): void
  /** Messages may have been missed (a gap, a lost connection): drop every local copy. */
  onLost(reason: string): void
}

/**
 * Cross-instance invalidation over Redis pub/sub on a namespaced channel.
 *
 * Each message is `<instance>:<sequence>:<op>:<key>`; every instance numbers its messages
 * 1, 2, 3… and receivers remember the last number per sender. A gap (a message lost, or
 * one this instance failed to publish while Redis was away) or a lost subscriber
 * connection means a change may have been missed, so the handler flushes the local tiers
 * rather than serve stale data. A gap only shows when a later message arrives, so an instance
 * that has published repeats its last number in a heartbeat once it has been quiet for
 * `heartbeatMs`: the last messages before a pause, lost while a Cluster node was away and
 * its bus links were down, or never published because Redis was away, still flush their
 * receivers within a heartbeat of the channel working again. Heartbeats wait for a quiet
 * interval because a Cluster sends each PUBLISH through any node, and one overtaking a
 * message still in flight on another node's bus would look like a gap.
 *
 * Why pub/sub and not client tracking: tracking needs RESP3
 * or a redirect connection per client and in a Cluster a connection per node, and says
 * nothing about writes the instance itself never read; one channel covers every topology.
 * @internal
 */
export class Invalidation {
  readonly instanceId = randomBytes(8).toString('hex')
  private sequence = 0
  private readonly lastSeen = new Map<string, number>()
  private readonly subscriber: Redis | Cluster
  private disconnected = false
  /** When the last publish was started and whether one is in flight: heartbeats wait for quiet. */
  private lastPublishAt = 0
  private publishing = 0
  private readonly heartbeat: NodeJS.Timeout | undefined
  /** Messages from other instances applied; gaps and losses that flushed the local tiers. */
  received = 0
  flushes = 0

  constructor(
    private readonly publisher: Redis | Cluster,
    readonly channel: string,
    private readonly handler: InvalidationHandler,
    heartbeatMs: number,
  ) {
    // The subscriber queues its SUBSCRIBE until connected. A standalone one re-subscribes in
    // our 'ready' handler rather than through ioredis's autoResubscribe, whose SUBSCRIBE
    // promise nobody handles: closed while it is in flight, it is an unhandled rejection.
    this.subscriber = publisher.isCluster
      ? (publisher as Cluster).duplicate(undefined, { enableOfflineQueue: true })
      : (publisher as Redis).duplicate({
          enableOfflineQueue: true,
          enableAutoPipelining: false,
          autoResubscribe: false,
        })
    this.subscriber.on('error', () => {})
    this.subscriber.on('close', () => {
      this.disconnected = true
    })
    this.subscriber.on('ready', () => {
      if (!this.disconnected) return
      this.disconnected = false
      if (!this.subscriber.isCluster) this.subscriber.subscribe(this.channel).catch(() => {})
      this.lost('the invalidation channel reconnected')
    })
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString() === this.channel) this.onMessage(message.toString())
    })
    this.subscriber.subscribe(this.channel).catch(() => {})
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(heartbeatMs), heartbeatMs)
      this.heartbeat.unref()
    }
  }

  /** Resolves once subscribed (or failed to; the subscriber keeps trying). */
  async ready(): Promise<void> {
    await this.subscriber.subscribe(this.channel).catch(() => {})
  }

  /** Tells the other instances that `key` changed (`''` for a clear); a failure is left to their gap detection. */
  async publish(op: InvalidationOp, key: string): Promise<void> {
    const message = `${this.instanceId}:${++this.sequence}:${OP_CODES[op]}:${key}`
    this.lastPublishAt = Date.now()
    this.publishing++
    try {
      await this.publisher.publish(this.channel, message)
    } finally {
      this.publishing--
    }
  }

  /** Repeats the last sequence number once quiet for `quietMs`, if anything was published; a failure waits for the next. */
  private beat(quietMs: number): void {
    if (this.sequence === 0 || this.publishing > 0 || Date.now() - this.lastPublishAt < quietMs) return
    this.publisher.publish(this.channel, `${this.instanceId}:${this.sequence}:${HEARTBEAT}:`).catch(() => {})
  }

  /** Flushes because a change may have been missed (Redis came back after an outage). */
  lost(reason: string): void {
    this.lastSeen.clear()
    this.flushes++
    this.handler.onLost(reason)
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat)
    this.subscriber.removeAllListeners('close')
    this.subscriber.removeAllListeners('ready')
    this.subscriber.disconnect()
  }

  private onMessage(message: string): void {
    const first = message.indexOf(':')
    const second = message.indexOf(':', first + 1)
    const third = message.indexOf(':', second + 1)
    if (first < 0 || second < 0 || third < 0) return
    const sender = message.slice(0, first)
    if (sender === this.instanceId) return
    const sequence = Number(message.slice(first + 1, second))
    const code = message.slice(second + 1, third)
    const op = OPS[code]
    if ((op === undefined && code !== HEARTBEAT) || !Number.isSafeInteger(sequence)) return
    const last = this.lastSeen.get(sender)
    this.lastSeen.delete(sender)
    if (this.lastSeen.size >= MAX_SENDERS) this.lastSeen.delete(this.lastSeen.keys().next().value as string)
    this.lastSeen.set(sender, sequence)
    if (op === undefined) {
      // A heartbeat: a number other than the last one heard means messages were missed.
      if (last !== undefined && sequence !== last) this.missed(sender)
      return
    }
    this.received++
    if (last !== undefined && sequence !== last + 1) return this.missed(sender)
    if (op === 'clear') this.handler.onClear()
    else this.handler.onKey(message.slice(third + 1), op)
  }

  private missed(sender: string): void {
    this.flushes++
    this.handler.onLost(`missed invalidation messages from instance ${sender}`)
  }
}
