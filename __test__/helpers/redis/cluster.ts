import { asText, parseInfo, withClient } from './client'
import { RedisHarnessError } from './errors'
import { REDIS_CLI_BIN } from './install'
import { RedisNode } from './node'
import { prepare } from './processes'
import { noop, run, waitUntil } from './run'

const TOTAL_SLOTS = 16384
const CLUSTER_CREATE_TIMEOUT_MS = 60_000
const CLUSTER_FORMATION_TIMEOUT_MS = 30_000
const DEFAULT_HEALTHY_TIMEOUT_MS = 30_000

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Number of masters (at least 3, which `redis-cli --cluster create` requires). Default 3. */
  masters?: number
  /** Replicas per master. Default 1. */
  replicasPerMaster?: number
  /** `cluster-node-timeout`: how long a node may be unreachable before failover starts. Default 2000 ms. */
  nodeTimeoutMs?: number
}

/** Address of one cluster node, in the shape ioredis' `new Redis.Cluster(startupNodes)` expects. */
export interface ClusterAddress {
  host: string
  port: number
}

/** Live role of a reachable cluster node, as reported by its `ROLE` command. */
export interface ClusterNodeRole {
  /** The node. */
  node: RedisNode
  /** Whether the node serves slots or replicates another node. */
  role: 'master' | 'replica'
  /** For replicas, the port of the master it replicates; undefined for masters. */
  masterPort: number | undefined
}

interface ClusterNodesEntry {
  id: string
  port: number
  flags: string[]
  masterId: string | undefined
  slotCount: number
}

function parseClusterNodes(text: string): ClusterNodesEntry[] {
  const entries: ClusterNodesEntry[] = []
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ')
    const [id, address, flags, master] = fields
    if (id === undefined || address === undefined || flags === undefined || master === undefined) continue
    // "ip:port@cport[,hostname]"; a node that has not met anyone yet shows an empty ip.
    const hostPort = address.split('@')[0] ?? ''
    const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))
    let slotCount = 0
    for (const slot of fields.slice(8)) {
      if (slot.startsWith('[')) continue // slots being migrated
      const [start, end = start] = slot.split('-').map(Number)
      if (start !== undefined && end !== undefined) slotCount += end - start + 1
    }
    entries.push({ id, port, flags: flags.split(','), masterId: master === '-' ? undefined : master, slotCount })
  }
  return entries
}

/** "port:role[:master port|:slot count]" of every reachable node, in port order, as one node sees the cluster. */
function describeLayout(view: readonly ClusterNodesEntry[], reachablePorts: ReadonlySet<number>): string {
  const portById = new Map(view.map((entry) => [entry.id, entry.port]))
  return view
    .filter((entry) => reachablePorts.has(entry.port))
    .sort((a, b) => a.port - b.port)
    .map((entry) =>
      entry.flags.includes('master')
        ? `${entry.port}:master:${entry.slotCount}`
        : `${entry.port}:replica-of:${entry.masterId === undefined ? '?' : (portById.get(entry.masterId) ?? '?')}`,
    )
    .join(' ')
}

type RoleReply = { role: 'master' } | { role: 'replica'; masterPort: number; linkState: string }

function parseRole(reply: unknown): RoleReply {
  if (Array.isArray(reply)) {
    const items: unknown[] = reply
    if (items[0] === 'master') return { role: 'master' }
    if (items[0] === 'slave') return { role: 'replica', masterPort: Number(items[2]), linkState: String(items[3]) }
  }
  throw new RedisHarnessError(`Unexpected ROLE reply: ${JSON.stringify(reply)}`)
}

interface NodeObservation {
  node: RedisNode
  info: Map<string, string>
  view: ClusterNodesEntry[]
  role: RoleReply
}

/** A private Redis cluster started by {@link startCluster}. */
export class RedisCluster {
  /** All nodes, running or not, in the order they were created. */
  readonly nodes: readonly RedisNode[]
  /** The `cluster-node-timeout` the nodes run with. */
  readonly nodeTimeoutMs: number
  // replica port -> master port, from the last time the cluster was seen healthy; tells waitForFailover who may win.
  private lastHealthyReplicas = new Map<number, number>()
  private stopping: Promise<void> | undefined

  /** @internal Use {@link startCluster}. */
  constructor(nodes: readonly RedisNode[], nodeTimeoutMs: number) {
    this.nodes = nodes
    this.nodeTimeoutMs = nodeTimeoutMs
  }

  /** Every node's address, for `new Redis.Cluster(cluster.startupNodes)`. */
  get startupNodes(): ClusterAddress[] {
    return this.nodes.map((node) => ({ host: node.host, port: node.port }))
  }

  /** The node listening on `port`; throws if it is not part of this cluster. */
  nodeByPort(port: number): RedisNode {
    const node = this.nodes.find((candidate) => candidate.port === port)
    if (node === undefined) throw new RedisHarnessError(`No node of this cluster listens on port ${port}`)
    return node
  }

  /** Live roles of all reachable nodes (running and not paused), queried with `ROLE`, ordered by port. */
  async roles(): Promise<ClusterNodeRole[]> {
    const reachable = this.nodes.filter((node) => node.reachable).sort((a, b) => a.port - b.port)
    return Promise.all(
      reachable.map(async (node) => {
        const role = parseRole(await withClient(node.port, (client) => client.call('ROLE')))
        return { node, role: role.role, masterPort: role.role === 'replica' ? role.masterPort : undefined }
      }),
    )
  }

  /** Reachable nodes that currently are masters. */
  async masters(): Promise<RedisNode[]> {
    return (await this.roles()).filter((entry) => entry.role === 'master').map((entry) => entry.node)
  }

  /** Reachable nodes that currently are replicas. */
  async replicas(): Promise<RedisNode[]> {
    return (await this.roles()).filter((entry) => entry.role === 'replica').map((entry) => entry.node)
  }

  /** The master serving `key`'s slot, according to `CLUSTER KEYSLOT` and `CLUSTER SLOTS` of a reachable node. */
  async nodeForKey(key: string): Promise<RedisNode> {
    const asker = this.nodes.find((node) => node.reachable)
    if (asker === undefined) throw new RedisHarnessError('No cluster node is reachable')
    const { slot, ranges } = await withClient(asker.port, async (client) => ({
      slot: Number(await client.call('CLUSTER', 'KEYSLOT', key)),
      ranges: await client.call('CLUSTER', 'SLOTS'),
    }))
    if (Array.isArray(ranges)) {
      for (const range of ranges as unknown[]) {
        if (!Array.isArray(range)) continue
        const [start, end, master] = range as unknown[]
        if (Number(start) <= slot && slot <= Number(end) && Array.isArray(master)) {
          return this.nodeByPort(Number((master as unknown[])[1]))
        }
      }
    }
    throw new RedisHarnessError(`Node ${asker.port} reports no master for slot ${slot} (key ${JSON.stringify(key)})`)
  }

  /**
   * Waits until every reachable node reports `cluster_state:ok`, all 16384 slots are assigned, every node knows all
   * nodes of the cluster, no reachable node is flagged as failing, all slots are served by reachable nodes and every
   * reachable replica's link to its master is up. Rejects with {@link RedisTimeoutError} (including log tails).
   */
  async waitForHealthy(timeoutMs = DEFAULT_HEALTHY_TIMEOUT_MS): Promise<void> {
    let healthy: NodeObservation[] = []
    await waitUntil(
      'a healthy cluster',
      timeoutMs,
      async () => {
        const observations = await this.observe()
        const problem = this.problemIn(observations)
        if (problem !== undefined) return problem
        healthy = observations
        return true
      },
      { details: () => this.describeLogs() },
    )
    this.rememberReplicas(healthy)
  }

  /**
   * After a master was killed or paused, waits until one of its replicas (as of the last time the cluster was seen
   * healthy) has been promoted and the remaining cluster is healthy again; resolves to the promoted node.
   */
  async waitForFailover(
    killedMasterPort: number,
    timeoutMs = Math.max(30_000, this.nodeTimeoutMs * 10),
  ): Promise<RedisNode> {
    const killed = this.nodeByPort(killedMasterPort)
    if (killed.reachable) {
      throw new RedisHarnessError(`Node ${killedMasterPort} is still serving; kill() or pause() it before waiting`)
    }
    if (this.lastHealthyReplicas.has(killedMasterPort)) {
      throw new RedisHarnessError(`Node ${killedMasterPort} was a replica, not a master, when last seen healthy`)
    }
    const candidates = [...this.lastHealthyReplicas]
      .filter(([, masterPort]) => masterPort === killedMasterPort)
      .map(([replicaPort]) => replicaPort)
    if (candidates.length === 0) {
      throw new RedisHarnessError(
        `Master ${killedMasterPort} had no replicas when last seen healthy; nothing can fail over`,
      )
    }
    let promoted: RedisNode | undefined
    let healthy: NodeObservation[] = []
    await waitUntil(
      `a replica of ${killedMasterPort} (${candidates.join(', ')}) to take over`,
      timeoutMs,
      async () => {
        const observations = await this.observe()
        const winner = observations.find((o) => o.role.role === 'master' && candidates.includes(o.node.port))
        if (winner === undefined) return `none of ${candidates.join(', ')} is a master yet`
        const problem = this.problemIn(observations)
        if (problem !== undefined) return problem
        promoted = winner.node
        healthy = observations
        return true
      },
      { details: () => this.describeLogs() },
    )
    this.rememberReplicas(healthy)
    if (promoted === undefined) throw new RedisHarnessError('unreachable: failover wait ended without a winner')
    return promoted
  }

  /** Kills every node and removes their directories. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const results = await Promise.allSettled(this.nodes.map((node) => node.stop()))
      const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
      if (failure !== undefined) throw failure.reason
    })()
    return this.stopping
  }

  private async observe(): Promise<NodeObservation[]> {
    const reachable = this.nodes.filter((node) => node.reachable)
    if (reachable.length === 0) throw new RedisHarnessError('no cluster node is running')
    return Promise.all(
      reachable.map((node) =>
        withClient(node.port, async (client) => ({
          node,
          info: parseInfo(asText(await client.call('CLUSTER', 'INFO'), 'CLUSTER INFO')),
          view: parseClusterNodes(asText(await client.call('CLUSTER', 'NODES'), 'CLUSTER NODES')),
          role: parseRole(await client.call('ROLE')),
        })),
      ),
    )
  }

  private problemIn(observations: readonly NodeObservation[]): string | undefined {
    const reachablePorts = new Set(observations.map((o) => o.node.port))
    let agreed: { port: number; layout: string } | undefined
    for (const { node, info, view, role } of observations) {
      const state = info.get('cluster_state')
      if (state !== 'ok') return `${node.port} reports cluster_state:${state ?? '?'}`
      const assigned = info.get('cluster_slots_assigned')
      if (assigned !== String(TOTAL_SLOTS))
        return `${node.port} has ${assigned ?? '?'} of ${TOTAL_SLOTS} slots assigned`
      const known = info.get('cluster_known_nodes')
      if (known !== String(this.nodes.length)) return `${node.port} knows ${known ?? '?'} of ${this.nodes.length} nodes`
      for (const entry of view) {
        const troubled = entry.flags.filter((flag) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag))
        if (reachablePorts.has(entry.port) && troubled.length > 0) {
          return `${node.port} flags ${entry.port} as ${troubled.join(',')}`
        }
        if (entry.slotCount > 0 && (!reachablePorts.has(entry.port) || troubled.length > 0)) {
          return `${node.port} still routes ${entry.slotCount} slots to unreachable ${entry.port}`
        }
      }
      if (role.role === 'replica' && role.linkState !== 'connected') {
        return `replica ${node.port} link to master ${role.masterPort} is ${role.linkState}`
      }
      // A restarted node briefly believes its stale nodes.conf (e.g. still a master with slots) until it gets an
      // UPDATE; the per-node checks above can all pass in that window, so require every node to see the same layout.
      const layout = describeLayout(view, reachablePorts)
      if (agreed === undefined) agreed = { port: node.port, layout }
      else if (agreed.layout !== layout) {
        return `${node.port} and ${agreed.port} disagree on the layout: ${layout} vs ${agreed.layout}`
      }
    }
    return undefined
  }

  private rememberReplicas(observations: readonly NodeObservation[]): void {
    this.lastHealthyReplicas = new Map()
    for (const { node, role } of observations) {
      if (role.role === 'replica') this.lastHealthyReplicas.set(node.port, role.masterPort)
    }
  }

  private describeLogs(): string {
    return this.nodes
      .map(
        (node) => `--- node ${node.port} (${node.running ? 'running' : 'not running'}) log tail:\n${node.logTail(8)}`,
      )
      .join('\n')
  }
}

/**
 * Starts a private cluster of `masters * (1 + replicasPerMaster)` nodes, creates it with
 * `redis-cli --cluster create` and resolves once it is healthy (see {@link RedisCluster.waitForHealthy}).
 * Everything started is cleaned up again if this rejects. Call `stop()` on the result.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3
  const replicasPerMaster = options.replicasPerMaster ?? 1
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000
  if (!Number.isInteger(masters) || masters < 3) {
    throw new RangeError(`masters must be an integer >= 3 (redis-cli requires it), got ${masters}`)
  }
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new RangeError(`replicasPerMaster must be a non-negative integer, got ${replicasPerMaster}`)
  }
  if (!Number.isInteger(nodeTimeoutMs) || nodeTimeoutMs < 100) {
    throw new RangeError(`nodeTimeoutMs must be an integer >= 100, got ${nodeTimeoutMs}`)
  }
  prepare()

  const clusterArgs = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
  ]
  const launches = await Promise.allSettled(
    Array.from({ length: masters * (1 + replicasPerMaster) }, () => RedisNode.launch(clusterArgs, true)),
  )
  const nodes = launches.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const cluster = new RedisCluster(nodes, nodeTimeoutMs)
  try {
    const failed = launches.find((result): result is PromiseRejectedResult => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    await run(
      REDIS_CLI_BIN,
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `${node.host}:${node.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ],
      { timeoutMs: CLUSTER_CREATE_TIMEOUT_MS },
    )
    await cluster.waitForHealthy(CLUSTER_FORMATION_TIMEOUT_MS)
  } catch (error) {
    await cluster.stop().catch(noop)
    throw error
  }
  return cluster
}
