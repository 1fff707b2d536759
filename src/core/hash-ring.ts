import { fromNativeError } from './errors'
import { native } from './native'

/**
 * Consistent hashing of string keys over weighted nodes (XXH64 points, so every process
 * places keys alike): adding or removing a node moves only the keys it gains or loses,
 * about 1/(N+1) of them. The L3 tier shards standalone Redis servers with it.
 *
 * @example
 * ```ts
 * const ring = new HashRing()
 * ring.add('redis-a:6379').add('redis-b:6379', 2)
 * ring.nodeFor('user:1') // 'redis-b:6379' or 'redis-a:6379', the same in every process
 * ```
 */
export class HashRing {
  private readonly ring: InstanceType<typeof native.NativeHashRing>

  /** An empty ring with `vnodes` points per unit of weight (more: smoother spread, more memory). */
  constructor(vnodes = 160) {
    try {
      this.ring = new native.NativeHashRing(vnodes)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Adds `node` with `weight` (or changes its weight). */
  add(node: string, weight = 1): this {
    try {
      this.ring.add(node, weight)
    } catch (err) {
      throw fromNativeError(err)
    }
    return this
  }

  /** Removes `node`; returns whether it was there. */
  remove(node: string): boolean {
    return this.ring.remove(node)
  }

  /** The node owning `key`; undefined on an empty ring. */
  nodeFor(key: string): string | undefined {
    return this.ring.nodeFor(key) ?? undefined
  }

  /** Up to `count` distinct nodes for `key`, owner first (where replicas go). */
  nodesFor(key: string, count: number): string[] {
    return this.ring.nodesFor(key, count)
  }

  /** Nodes on the ring. */
  get size(): number {
    return this.ring.size
  }
}
