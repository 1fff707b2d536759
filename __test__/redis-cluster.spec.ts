import fs from 'node:fs'

import test from 'ava'
import Redis, { type Cluster } from 'ioredis'

import { startCluster, type RedisCluster, type RedisNode } from './helpers/redis'

let cluster: RedisCluster | undefined
let client: Cluster | undefined
// The master killed in the failover test, restarted by the rejoin test.
let victim: RedisNode | undefined
let promoted: RedisNode | undefined

// Enough keys that every master owns some of them.
const keys = Array.from({ length: 30 }, (_, i) => `optlayer:key:${i}`)

function requireCluster(): RedisCluster {
  if (cluster === undefined) throw new Error('the cluster did not start (see test.before)')
  return cluster
}

function requireClient(): Cluster {
  if (client === undefined) throw new Error('no cluster client (an earlier test failed)')
  return client
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function keysOwnedBy(c: RedisCluster, node: RedisNode): Promise<string[]> {
  const owners = await Promise.all(keys.map(async (key) => ({ key, owner: await c.nodeForKey(key) })))
  return owners.filter((entry) => entry.owner === node).map((entry) => entry.key)
}

test.before(async () => {
  cluster = await startCluster()
})

test.after.always(async () => {
  client?.disconnect()
  await cluster?.stop()
})

test.serial('forms a healthy 3 master / 3 replica cluster on private ports', async (t) => {
  const c = requireCluster()
  t.is(c.nodes.length, 6)
  t.is(c.startupNodes.length, 6)
  for (const node of c.nodes) {
    t.not(node.port, 6379)
    t.true(node.running)
    t.true(fs.existsSync(node.dir))
  }
  const masters = await c.masters()
  const replicas = await c.replicas()
  t.is(masters.length, 3)
  t.is(replicas.length, 3)
  const roles = await c.roles()
  const replicated = roles.flatMap((entry) => (entry.masterPort === undefined ? [] : [entry.masterPort])).sort()
  t.deepEqual(replicated, masters.map((node) => node.port).sort(), 'each master has exactly one replica')
})

test.serial('SET/GET through ioredis Cluster across all masters', async (t) => {
  const c = requireCluster()
  client = new Redis.Cluster(c.startupNodes, { retryDelayOnFailover: 200, retryDelayOnClusterDown: 200 })
  // Outages are the point of these tests; failed commands reject on their own, so connection errors are not reported.
  client.on('error', () => {})
  for (const key of keys) t.is(await client.set(key, `v1:${key}`), 'OK')
  for (const key of keys) t.is(await client.get(key), `v1:${key}`)

  const owners = new Set(await Promise.all(keys.map(async (key) => (await c.nodeForKey(key)).port)))
  t.deepEqual([...owners].sort(), (await c.masters()).map((node) => node.port).sort())
})

test.serial('a killed master is replaced by its replica and its slots stay writable', async (t) => {
  const c = requireCluster()
  const redis = requireClient()
  const first = keys[0]
  if (first === undefined) throw new Error('no keys')
  victim = await c.nodeForKey(first)
  const victimKeys = await keysOwnedBy(c, victim)
  t.true(victimKeys.length > 0)

  const started = Date.now()
  await victim.kill()
  promoted = await c.waitForFailover(victim.port)
  t.log(`failover of ${victim.port} to ${promoted.port} took ${Date.now() - started} ms`)
  t.not(promoted.port, victim.port)
  t.false(victim.running)
  t.true((await c.masters()).includes(promoted))

  for (const key of victimKeys) {
    t.is((await c.nodeForKey(key)).port, promoted.port)
    t.is(await redis.set(key, `v2:${key}`), 'OK')
    t.is(await redis.get(key), `v2:${key}`)
  }
})

test.serial('the restarted old master rejoins as a replica of the promoted node', async (t) => {
  const c = requireCluster()
  const redis = requireClient()
  if (victim === undefined || promoted === undefined) throw new Error('the failover test did not run')
  const port = victim.port

  await victim.restart()
  t.is(victim.port, port)
  await c.waitForHealthy()

  const roles = await c.roles()
  t.is(roles.length, 6)
  const rejoined = roles.find((entry) => entry.node === victim)
  t.is(rejoined?.role, 'replica')
  t.is(rejoined?.masterPort, promoted.port)
  t.is((await c.masters()).length, 3)
  for (const key of keys) {
    t.is(await redis.set(key, `v3:${key}`), 'OK')
    t.is(await redis.get(key), `v3:${key}`)
  }
})

test.serial('stop() ends every node and removes their dirs', async (t) => {
  const c = requireCluster()
  requireClient().disconnect()
  client = undefined
  const pids = c.nodes.map((node) => node.pid)
  await c.stop()
  await c.stop() // idempotent
  for (const node of c.nodes) {
    t.false(node.running)
    t.false(fs.existsSync(node.dir))
  }
  for (const pid of pids) {
    if (pid === undefined) continue
    t.false(processExists(pid), `process ${pid} is gone`)
  }
})
