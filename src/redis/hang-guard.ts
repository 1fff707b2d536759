import type { Cluster, Redis } from 'ioredis'

/** How often a suspect client is probed with a PING. */
const PROBE_INTERVAL_MS = 200

/** Whether `error` is ioredis giving up on a command after its `commandTimeout` (it has no code). */
function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out'
}

/**
 * The standalone servers some guard of this process holds hung, by address, with the guards that do: the
 * components keep clients of their own (the gateway's cache and its limiter each talk to the same Redis), and a
 * request that asks both would otherwise wait out one command timeout for each.
 */
const hungServers = new Map<string, Set<HangGuard>>()

/** The server a standalone client talks to; undefined for a Cluster, whose nodes hang one by one. */
function serverOf(client: Redis | Cluster): string | undefined {
  if (client.isCluster) return undefined
  const { host, port, path } = (client as Redis).options
  return path ?? `${host ?? 'localhost'}:${port ?? 6379}`
}

/**
 * Tells a hung Redis from a closed one. A frozen server (SIGSTOP, a stuck disk) or a
 * blackholed network sends no reset, so ioredis keeps the connection `ready` and every
 * command waits out its timeout: each request would pay the whole timeout, once per Redis
 * call it makes. A command that times out on a ready client makes the client suspect: calls
 * then fail at once, and a PING every 200 ms (bounded by the same timeout) ends the suspicion
 * when Redis answers it. A closed connection is left to ioredis' own reconnection; its
 * probes wait for the client to be ready again. A standalone server one guard holds hung is
 * suspect to every guard in the process, on every client of that server, until the guard's
 * probe is answered.
 * @internal
 */
export class HangGuard {
  private readonly suspects = new Map<Redis | Cluster, { timer: NodeJS.Timeout; pinging: boolean }>()

  /** `recovered` is told when a suspect client answered its probe. */
  constructor(private readonly recovered: () => void = () => {}) {}

  /** Whether any client may be suspect (its own, or a server another guard holds hung). */
  get any(): boolean {
    return this.suspects.size > 0 || hungServers.size > 0
  }

  /** Whether calls on `client` should fail at once. */
  suspect(client: Redis | Cluster): boolean {
    if (this.suspects.has(client)) return true
    if (hungServers.size === 0) return false
    const server = serverOf(client)
    return server !== undefined && hungServers.has(server)
  }

  /** Reports a failed call on `client`: a command timeout makes it suspect. */
  failed(client: Redis | Cluster, error: unknown): void {
    if (!isCommandTimeout(error) || this.suspects.has(client)) return
    const state = { timer: setInterval(() => this.probe(client, state), PROBE_INTERVAL_MS), pinging: false }
    state.timer.unref()
    this.suspects.set(client, state)
    const server = serverOf(client)
    if (server === undefined) return
    const holders = hungServers.get(server) ?? new Set<HangGuard>()
    holders.add(this)
    hungServers.set(server, holders)
  }

  /** Stops probing. */
  close(): void {
    for (const [client, { timer }] of this.suspects) {
      clearInterval(timer)
      this.release(client, false)
    }
    this.suspects.clear()
  }

  /** This guard no longer holds `client`'s server hung; `answered`: nobody does, it answered a probe. */
  private release(client: Redis | Cluster, answered: boolean): void {
    const server = serverOf(client)
    if (server === undefined) return
    const holders = hungServers.get(server)
    holders?.delete(this)
    if (answered || holders?.size === 0) hungServers.delete(server)
  }

  private probe(client: Redis | Cluster, state: { timer: NodeJS.Timeout; pinging: boolean }): void {
    if (state.pinging || client.status !== 'ready') return
    state.pinging = true
    client.ping().then(
      () => {
        if (this.suspects.get(client) !== state) return
        clearInterval(state.timer)
        this.suspects.delete(client)
        this.release(client, true)
        this.recovered()
      },
      () => (state.pinging = false),
    )
  }
}
