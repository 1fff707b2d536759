import { randomInt } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'

import { RedisHarnessError } from './errors'

/** The only address harness servers listen on. */
export const REDIS_HOST = '127.0.0.1'

// The machine's own Redis (and its would-be cluster bus port) must never be picked or contacted.
const FORBIDDEN_PORTS: ReadonlySet<number> = new Set([6379, 16379])
const CLUSTER_BUS_OFFSET = 10000
const RESERVE_ATTEMPTS = 50

// Ports of every node that has not been stopped, including killed ones that may be restarted on the same port.
const reservedPorts = new Set<number>()

/** Throws unless `port` is a valid port that is not the machine's own Redis. */
export function assertHarnessPort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535 || FORBIDDEN_PORTS.has(port)) {
    throw new RedisHarnessError(`Refusing to use port ${port}: it is invalid or belongs to the machine's own Redis`)
  }
}

function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(undefined))
    server.listen({ port, host: REDIS_HOST, exclusive: true }, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address !== null ? address.port : undefined
      server.close(() => resolve(bound))
    })
  })
}

function ephemeralRangeStart(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)
    const value = Number(low)
    return Number.isInteger(value) && value > 0 ? value : 32768
  } catch {
    return 32768
  }
}

function clusterPortRange(): [number, number] {
  // Below the ephemeral range (for the bus port too), so an outgoing connection can't grab a node's port while the
  // node is down waiting for restart().
  const max = ephemeralRangeStart() - CLUSTER_BUS_OFFSET - 1
  if (max - 10000 >= 2000) return [10000, max]
  return [20000, 65535 - CLUSTER_BUS_OFFSET]
}

/** The ports a node occupies: its own and, for cluster nodes, the cluster bus port. */
function portsOf(port: number, cluster: boolean): number[] {
  return cluster ? [port, port + CLUSTER_BUS_OFFSET] : [port]
}

/** Picks and reserves a port (plus its cluster bus port) that could be bound a moment ago. */
export async function reservePort(cluster: boolean): Promise<number> {
  const [low, high] = clusterPortRange()
  for (let attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
    const port = cluster ? randomInt(low, high + 1) : await listenOn(0)
    if (port === undefined) continue
    const ports = portsOf(port, cluster)
    if (ports.some((p) => FORBIDDEN_PORTS.has(p) || reservedPorts.has(p) || p > 65535)) continue
    // Reserve before the async bind probe so parallel node starts in this process can't pick the same ports.
    for (const p of ports) reservedPorts.add(p)
    const probes = cluster ? await Promise.all(ports.map((p) => listenOn(p))) : [port]
    if (probes.every((p) => p !== undefined)) return port
    for (const p of ports) reservedPorts.delete(p)
  }
  throw new RedisHarnessError(
    `Could not find a free ${cluster ? 'port whose cluster bus port (+10000) is free too' : 'port'} after ` +
      `${RESERVE_ATTEMPTS} attempts`,
  )
}

/** Gives back the ports {@link reservePort} reserved for a node. */
export function releasePort(port: number, cluster: boolean): void {
  for (const p of portsOf(port, cluster)) reservedPorts.delete(p)
}
