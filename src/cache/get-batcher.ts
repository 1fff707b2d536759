import type Redis from 'ioredis'
import type { Cluster } from 'ioredis'
import calculateSlot from 'cluster-key-slot'

import type { WriteCoalescer } from '../redis/write-coalescer'

/** Keys of one MGET at most: a bound on the reply a single command builds in Redis. */
const MAX_KEYS_PER_MGET = 256

interface Waiter {
  resolve: (value: Buffer | null) => void
  reject: (err: unknown) => void
}

/**
 * Turns the GETs issued in one tick into one MGET per client (per hash slot on a Cluster,
 * where a multi-key command must stay within one slot), and asks for a key once however
 * many callers want it. Why: at 64 concurrent reads Redis and ioredis spend most of their
 * time per command, not per key; one command for many keys is what lets the L3 tier go
 * faster than one GET per read (see the cache benchmark).
 * @internal
 */
export class GetBatcher {
  private pending = new Map<Redis | Cluster, Map<string, Waiter[]>>()
  private scheduled = false

  constructor(private readonly writes: WriteCoalescer) {}

  /** The value of `key` through `client`, batched with the other reads of this tick. */
  get(client: Redis | Cluster, key: string): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      let keys = this.pending.get(client)
      if (keys === undefined) this.pending.set(client, (keys = new Map()))
      const waiters = keys.get(key)
      if (waiters === undefined) keys.set(key, [{ resolve, reject }])
      else waiters.push({ resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        // After the promise jobs of this tick: every read they issue joins the batch.
        process.nextTick(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.scheduled = false
    const pending = this.pending
    this.pending = new Map()
    for (const [client, keys] of pending) {
      for (const group of groups(client, [...keys.keys()])) {
        this.writes.beforeCommand(client)
        send(client, group, keys)
      }
    }
  }
}

/** Keys split into MGET-sized groups, by slot on a Cluster. */
function groups(client: Redis | Cluster, keys: string[]): string[][] {
  const bySlot = new Map<number, string[]>()
  for (const key of keys) {
    const slot = client.isCluster ? calculateSlot(key) : 0
    const group = bySlot.get(slot)
    if (group === undefined) bySlot.set(slot, [key])
    else group.push(key)
  }
  const out: string[][] = []
  for (const group of bySlot.values()) {
    for (let i = 0; i < group.length; i += MAX_KEYS_PER_MGET) out.push(group.slice(i, i + MAX_KEYS_PER_MGET))
  }
  return out
}

function send(client: Redis | Cluster, keys: string[], waiters: Map<string, Waiter[]>): void {
  const request: Promise<(Buffer | null)[]> =
    keys.length === 1 ? client.getBuffer(keys[0] as string).then((value) => [value]) : client.mgetBuffer(keys)
  request.then(
    (values) => {
      for (const [i, key] of keys.entries()) for (const w of waiters.get(key) ?? []) w.resolve(values[i] ?? null)
    },
    (err: unknown) => {
      for (const key of keys) for (const w of waiters.get(key) ?? []) w.reject(err)
    },
  )
}
