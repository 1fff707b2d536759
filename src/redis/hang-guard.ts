import type { Cluster, Redis } from 'ioredis'

/** How often a suspect client is probed with a PING. */
const PROBE_INTERVAL_MS = 200

/** Whether `error` is ioredis giving up on a command after its `commandTimeout` (it has no code). */
function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out'
}

/**
 * Tells a hung Redis from a closed one. A frozen server (SIGSTOP, a stuck disk) or a
 * blackholed network sends no reset, so ioredis keeps the connection `ready` and every
 * command waits out its timeout: each request would pay the whole timeout, once per Redis
 * call it makes. A command that times out on a ready client makes the client suspect: calls
 * then fail at once, and a PING every 200 ms (bounded by the same timeout) ends the suspicion
 * when Redis answers it. A closed connection is left to ioredis' own reconnection; its
 * probes wait for the client to be ready again.
 * @internal
 */
export class HangGuard {
  private readonly suspects = new Map<Redis | Cluster, { timer: NodeJS.Timeout; pinging: boolean }>()

  /** `recovered` is told when a suspect client answered its probe. */
  constructor(private readonly recovered: () => void = () => {}) {}

  /** Whether any client is suspect. */
  get any(): boolean {
    return this.suspects.size > 0
  }

  /** Whether calls on `client` should fail at once. */
  suspect(client: Redis | Cluster): boolean {
    return this.suspects.has(client)
  }

  /** Reports a failed call on `client`: a command timeout makes it suspect. */
  failed(client: Redis | Cluster, error: unknown): void {
    if (!isCommandTimeout(error) || this.suspects.has(client)) return
    const state = { timer: setInterval(() => this.probe(client, state), PROBE_INTERVAL_MS), pinging: false }
    state.timer.unref()
    this.suspects.set(client, state)
  }

  /** Stops probing. */
  close(): void {
    for (const { timer } of this.suspects.values()) clearInterval(timer)
    this.suspects.clear()
  }

  private probe(client: Redis | Cluster, state: { timer: NodeJS.Timeout; pinging: boolean }): void {
    if (state.pinging || client.status !== 'ready') return
    state.pinging = true
    client.ping().then(
      () => {
        if (this.suspects.get(client) !== state) return
        clearInterval(state.timer)
        this.suspects.delete(client)
        this.recovered()
      },
      () => (state.pinging = false),
    )
  }
}
