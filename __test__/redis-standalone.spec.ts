import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'
import Redis from 'ioredis'

import { startStandalone, TEMP_DIR_PREFIX, type RedisStandalone } from './helpers/redis'

let server: RedisStandalone | undefined
const clients: Redis[] = []

function requireServer(): RedisStandalone {
  if (server === undefined) throw new Error('the standalone server did not start (see test.before)')
  return server
}

/** A client that fails commands at once while the server is down instead of queueing or retrying them. */
async function connect(target: RedisStandalone): Promise<Redis> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  // Connection errors are expected while the server is killed; the assertions look at command results.
  client.on('error', () => {})
  clients.push(client)
  await client.connect()
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

test.before(async () => {
  server = await startStandalone()
})

test.after.always(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

test.serial('runs its own server on a free port in a private temp dir', async (t) => {
  const s = requireServer()
  t.not(s.port, 6379)
  t.is(s.host, '127.0.0.1')
  t.is(s.url, `redis://127.0.0.1:${s.port}`)
  t.true(s.running)
  t.is(path.dirname(s.dir), os.tmpdir())
  t.true(path.basename(s.dir).startsWith(TEMP_DIR_PREFIX))
  t.true(fs.existsSync(s.dir))

  const client = await connect(s)
  t.deepEqual(await client.call('CONFIG', 'GET', 'dir'), ['dir', s.dir])
  t.is(await client.set('greeting', 'hello'), 'OK')
  t.is(await client.get('greeting'), 'hello')
})

test.serial('commands fail fast while the server is killed and work again after restart()', async (t) => {
  const s = requireServer()
  const client = await connect(s)
  t.is(await client.set('survivor', 'before'), 'OK')
  const oldPid = s.pid
  t.truthy(oldPid)

  await s.kill()
  t.false(s.running)
  t.is(s.pid, undefined)
  if (oldPid !== undefined) t.false(processExists(oldPid))

  const started = Date.now()
  await t.throwsAsync(client.set('survivor', 'during'))
  t.true(Date.now() - started < 2000, 'the failing command should not wait for retries')

  const port = s.port
  await s.restart()
  t.true(s.running)
  t.is(s.port, port)
  t.not(s.pid, oldPid)

  const fresh = await connect(s)
  // Nothing is persisted, so a restart is an empty server.
  t.is(await fresh.get('survivor'), null)
  t.is(await fresh.set('survivor', 'after'), 'OK')
  t.is(await fresh.get('survivor'), 'after')
})

test.serial('stop() ends the process and removes the temp dir', async (t) => {
  const s = requireServer()
  const pid = s.pid
  t.truthy(pid)
  await s.stop()
  await s.stop() // idempotent
  t.false(s.running)
  t.false(fs.existsSync(s.dir))
  if (pid !== undefined) t.false(processExists(pid))
  await t.throwsAsync(s.restart(), { message: /was stopped/ })
})
