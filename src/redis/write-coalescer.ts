import type { Writable } from 'node:stream'

import type { Cluster, Redis } from 'ioredis'

/**
 * Commands sent in a burst leave in a few writes: ioredis writes each command with its own
 * `write` (a syscall here, a read and an event-loop turn in Redis), so 64 decisions resuming
 * from one batch of replies cost 64 of each. Before each command the coalescer corks the
 * client's socket; the socket is flushed every {@link WriteCoalescer.flushEvery} commands and
 * when the current tick ends.
 *
 * Why not ioredis' `enableAutoPipelining`: it coalesces too, but through a pipeline object per
 * batch, which cost the rate limiter more than it saved (0.5-0.6x the decisions a second
 * without it, with more GC), and it sends a batch only once the one before has been answered:
 * against a hung Redis a cache read queued behind a stuck batch waited out two command
 * timeouts. Why flush within the tick: a flush only at its end made Node and Redis take turns,
 * each idle while the other worked through the whole batch (0.7-0.8x); every 16 commands Redis
 * starts on the first ones while the rest are written.
 *
 * Only a standalone client's socket is corked: a Cluster writes to one socket per node, and its
 * commands pass as they are.
 * @internal
 */
export class WriteCoalescer {
  private corked: Writable | undefined
  private pending = 0

  /** @param flushEvery Commands written at most into one flush. */
  constructor(readonly flushEvery = 16) {}

  /** Call right before sending a command on `client`. */
  beforeCommand(client: Redis | Cluster): void {
    const stream = (client as { stream?: Writable }).stream
    if (stream === undefined || !stream.writable) return
    if (stream === this.corked) {
      if (++this.pending % this.flushEvery === 0) {
        stream.uncork()
        stream.cork()
      }
      return
    }
    // A new socket within the tick (the client reconnected): what the old one holds goes now.
    const flushScheduled = this.corked !== undefined
    this.corked?.uncork()
    this.corked = stream
    this.pending = 1
    stream.cork()
    if (!flushScheduled) process.nextTick(this.flush)
  }

  private readonly flush = (): void => {
    const stream = this.corked
    this.corked = undefined
    this.pending = 0
    stream?.uncork()
  }
}
