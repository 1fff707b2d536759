import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'

import test from 'ava'
import Redis from 'ioredis'
import {
  AbortError,
  CircuitOpenError,
  ClosedError,
  ConnectionPool,
  httpUpstream,
  InvalidArgumentError,
  MetricsCollector,
  OptlayerError,
  POOL_DEFAULTS,
  PoolCircuitOpenError,
  PoolReleaseError,
  PoolTimeoutError,
  tcpResourceFactory,
  TimeoutError,
  type CircuitStateChange,
  type ConnectionPoolOptions,
  type DestroyReason,
  type LeakReport,
} from 'optlayer'

import { startStandalone } from './helpers/redis'
import { waitFor } from './helpers/wait'

// ---------------------------------------------------------------------------------------------
// Helpers

/** Settles to 'pending' if `promise` has not settled by the next macrotask. */
async function peek<T>(promise: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    sleep(20).then(() => 'pending' as const),
  ])
}

interface EchoServer {
  port: number
  /** Server-side sockets currently open. */
  open: Set<net.Socket>
  /** Most server-side sockets open at once. */
  maxOpen: number
  /** Connections accepted in all. */
  accepted: number
  /** Resets every open connection (the server stays up). */
  resetAll(): void
  close(): Promise<void>
}

/** A line echo server on 127.0.0.1 (TLS when `tlsOptions` are given), counting its connections. */
async function startEchoServer(tlsOptions?: tls.TlsOptions, port = 0): Promise<EchoServer> {
  const open = new Set<net.Socket>()
  const state = { maxOpen: 0, accepted: 0 }
  const onSocket = (socket: net.Socket): void => {
    open.add(socket)
    state.accepted++
    state.maxOpen = Math.max(state.maxOpen, open.size)
    socket.on('error', () => {})
    socket.on('close', () => open.delete(socket))
    socket.on('data', (chunk) => socket.write(chunk))
  }
  const server = tlsOptions === undefined ? net.createServer(onSocket) : tls.createServer(tlsOptions, onSocket)
  server.on('tlsClientError', () => {})
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as net.AddressInfo).port,
    open,
    get maxOpen() {
      return state.maxOpen
    },
    get accepted() {
      return state.accepted
    },
    resetAll() {
      for (const socket of open) socket.resetAndDestroy()
    },
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Writes `message` and resolves with the first chunk that comes back (the echo). */
function roundTrip(socket: net.Socket, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      socket.off('error', onError)
      socket.pause()
      resolve(chunk.toString())
    }
    const onError = (error: Error): void => {
      socket.off('data', onData)
      reject(error)
    }
    socket.once('data', onData)
    socket.once('error', onError)
    socket.resume() // a paused stream does not resume when a 'data' listener is added
    socket.write(message)
  })
}

/** A pool of plain objects, with every pool event recorded. */
function objectPool(options: Partial<ConnectionPoolOptions<{ id: number }>> = {}) {
  let created = 0
  const destroyed: Array<{ id: number; reason: DestroyReason }> = []
  const pool = new ConnectionPool<{ id: number }>({
    create: () => ({ id: ++created }),
    ...options,
  })
  pool.on('destroy', (resource, reason) => destroyed.push({ id: resource.id, reason }))
  return { pool, destroyed, created: () => created }
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was just free). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

// ---------------------------------------------------------------------------------------------
// Sizing and fairness

test('200 concurrent use() with max 8 never has more than 8 sockets; min is kept', async (t) => {
  const server = await startEchoServer()
  const factory = tcpResourceFactory({ host: '127.0.0.1', port: server.port })
  let mostPending = 0
  const pool: ConnectionPool<net.Socket> = new ConnectionPool({
    ...factory,
    create: () => {
      mostPending = Math.max(mostPending, pool.stats().pending)
      return factory.create()
    },
    min: 2,
    max: 8,
    maxConcurrentCreates: 3,
  })
  let live = 0
  let maxLive = 0
  pool.on('create', () => {
    live++
    maxLive = Math.max(maxLive, live)
  })
  pool.on('destroy', () => live--)
  await waitFor('min connections', () => pool.stats().size === 2 && server.open.size === 2)
  t.like(pool.stats(), { size: 2, idle: 2, creations: 2 }, 'min resources are created in the background at start')

  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      pool.use(async (socket) => {
        const reply = await roundTrip(socket, `hello ${i}\n`)
        await sleep(i % 3) // hold it a little, so that callers queue
        return reply
      }),
    ),
  )
  t.deepEqual(
    replies,
    Array.from({ length: 200 }, (_, i) => `hello ${i}\n`),
  )
  t.true(maxLive <= 8, `pool created ${maxLive} at once`)
  t.true(server.maxOpen <= 8, `server saw ${server.maxOpen} connections at once`)
  t.true(mostPending >= 1 && mostPending <= 3, `${mostPending} creations at once (maxConcurrentCreates 3)`)
  const stats = pool.stats()
  t.like(stats, { active: 0, waiting: 0, acquires: 200, releases: 200, timeouts: 0 })
  t.true(stats.size >= 2 && stats.size <= 8)
  t.true(stats.acquireLatencyMs.count === 200 && stats.acquireLatencyMs.max > 0, 'some callers waited')
  await pool.close()
  t.is(pool.stats().state, 'closed')
  t.is(live, 0)
  await server.close()
})

test('waiters are served in FIFO order, and a newcomer does not jump the queue', async (t) => {
  const { pool } = objectPool({ max: 1 })
  const first = await pool.acquire()
  const order: string[] = []
  const waits = ['a', 'b', 'c', 'd'].map((name) =>
    pool.acquire().then((resource) => {
      order.push(name)
      return resource
    }),
  )
  t.is(pool.stats().waiting, 4)
  pool.release(first)
  // Arrives while a..d wait and the resource is just back: it must queue behind them.
  const late = pool.acquire().then((resource) => {
    order.push('late')
    return resource
  })
  for (const wait of waits) pool.release(await wait)
  pool.release(await late)
  t.deepEqual(order, ['a', 'b', 'c', 'd', 'late'])
  t.like(pool.stats(), { size: 1, active: 0, idle: 1, waiting: 0, acquires: 6 })
  await pool.close()
})

test('an AbortSignal cancels a waiter and frees its place in line', async (t) => {
  const { pool } = objectPool({ max: 1 })
  const held = await pool.acquire()
  const controller = new AbortController()
  const aborted = pool.acquire(controller.signal)
  const next = pool.acquire()
  t.is(pool.stats().waiting, 2)
  controller.abort(new Error('caller gave up'))
  const error = await t.throwsAsync(aborted, { instanceOf: AbortError })
  t.is(error.code, 'ERR_OPTLAYER_ABORTED')
  t.is((error.cause as Error).message, 'caller gave up')
  t.like(pool.stats(), { waiting: 1, aborts: 1 })
  pool.release(held)
  t.is(await next, held, 'the next waiter got the resource the aborted one would have')

  const already = AbortSignal.abort()
  await t.throwsAsync(pool.acquire(already), { code: 'ERR_OPTLAYER_ABORTED' })
  pool.release(held)
  t.like(pool.stats(), { active: 0, waiting: 0 })
  await pool.close()
})

test('min above max and other bad options are typed errors naming the option', (t) => {
  const create = (): object => ({})
  t.throws(() => new ConnectionPool({ create, min: 5, max: 2 }), {
    instanceOf: InvalidArgumentError,
    message: /invalid min: expected at most max \(2\), got 5/,
  })
  t.throws(() => new ConnectionPool({ create, max: 0 }), { message: /invalid max/ })
  t.throws(() => new ConnectionPool({ create, acquireTimeoutMs: -1 }), { message: /invalid acquireTimeoutMs/ })
  t.throws(() => new ConnectionPool({ create, keepAliveMs: 1000 }), { message: /keepAliveMs.*needs validate/ })
  t.throws(() => new ConnectionPool({ create, maxLifetimeMs: 2 ** 31 }), {
    message: /invalid maxLifetimeMs: .*at most 2147483647, or 0 or Infinity for off/,
  })
  t.throws(() => new ConnectionPool({ create, breaker: { consecutiveFailures: 0 } }), {
    message: /invalid consecutiveFailures/,
  })
  t.throws(() => new ConnectionPool({} as ConnectionPoolOptions<object>), { message: /invalid create/ })
  t.is(POOL_DEFAULTS.max, 10)
})

// ---------------------------------------------------------------------------------------------
// Timeouts and leaks

function holdForever<T>(pool: ConnectionPool<T>): Promise<T> {
  return pool.acquire()
}

test('an acquire timeout on a leaking pool says so and names the holders with their acquire stacks', async (t) => {
  const { pool } = objectPool({ max: 2, acquireTimeoutMs: 150, leakDetectionMs: 40, closeTimeoutMs: 10 })
  const leaks: LeakReport[] = []
  pool.on('leak', (report) => leaks.push(report))
  const timeouts: PoolTimeoutError[] = []
  pool.on('timeout', (error) => timeouts.push(error))
  await holdForever(pool)
  await holdForever(pool)

  const error = await t.throwsAsync(pool.acquire(), { instanceOf: PoolTimeoutError })
  t.true(error instanceof TimeoutError, 'it is the timeout error of the package')
  t.is(error.code, 'ERR_OPTLAYER_TIMEOUT')
  t.like(error, { reason: 'leaked', saturated: true, leaked: 2, creationFailing: false, active: 2, max: 2 })
  t.is(error.holders.length, 2)
  for (const holder of error.holders) {
    t.true(holder.leaked)
    t.true(holder.heldMs >= 40)
    t.regex(holder.stack ?? '', /holdForever/)
  }
  t.regex(error.message, /saturated: all 2 \(max\) are borrowed/)
  t.regex(error.message, /2 held past leakDetectionMs/)
  t.regex(error.message, /#1 held \d+ ms \(leaked\) at holdForever/)
  t.is(timeouts[0], error)
  t.is(leaks.length, 2)
  t.like(pool.stats(), { timeouts: 1, leaks: 2 })
  await pool.close()
})

test('an acquire timeout without leak detection reports saturation and names holders without stacks', async (t) => {
  const { pool } = objectPool({ max: 1, acquireTimeoutMs: 60, closeTimeoutMs: 10 })
  await pool.acquire()
  const first = pool.acquire()
  const second = pool.acquire()
  const [a, b] = await Promise.allSettled([first, second])
  for (const settled of [a, b]) {
    t.is(settled?.status, 'rejected')
    const error = (settled as PromiseRejectedResult).reason as PoolTimeoutError
    t.true(error instanceof PoolTimeoutError)
    t.like(error, { reason: 'saturated', saturated: true, leaked: 0 })
    t.is(error.holders.length, 1)
    t.is(error.holders[0]?.id, 1)
    t.is(error.holders[0]?.stack, undefined)
    t.regex(error.message, /set leakDetectionMs/)
  }
  t.like(pool.stats(), { timeouts: 2, waiting: 0 })
  await pool.close()
})

test('leak detection reports a held resource once, with the stack that acquired it, and its return', async (t) => {
  const { pool } = objectPool({ max: 2, leakDetectionMs: 30 })
  const reports: LeakReport[] = []
  const unleaks: number[] = []
  pool.on('leak', (report) => reports.push(report))
  pool.on('unleak', (report) => unleaks.push(report.resourceId))
  async function leakySite(): Promise<{ id: number }> {
    return pool.use(async (resource) => {
      await sleep(150)
      return resource
    })
  }
  const quick = await pool.acquire()
  pool.release(quick) // returned in time: never reported
  const resource = await leakySite()
  t.is(reports.length, 1, 'reported once, not on every scan')
  const [report] = reports
  t.like(report, { pool: pool.name, resourceId: resource.id, thresholdMs: 30 })
  t.true(report!.heldMs >= 30)
  t.regex(report!.stack, /leakySite/)
  t.regex(report!.message, /apparent leak/)
  t.deepEqual(unleaks, [resource.id])
  t.is(pool.stats().leaks, 1)
  await pool.close()
})

// ---------------------------------------------------------------------------------------------
// Retiring resources

test('idle resources above min are destroyed after idleTimeoutMs', async (t) => {
  const { pool, destroyed } = objectPool({ min: 1, max: 4, idleTimeoutMs: 80, reapIntervalMs: 20 })
  const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()])
  for (const resource of held) pool.release(resource)
  t.is(pool.stats().idle, 4)
  await waitFor('idle resources to be reaped', () => pool.stats().size === 1)
  await sleep(100)
  t.like(pool.stats(), { size: 1, idle: 1 }, 'min stays')
  t.deepEqual(
    destroyed.map((d) => d.reason),
    ['idle', 'idle', 'idle'],
  )
  await pool.close()
})

test('max lifetime retires idle resources and borrowed ones only when returned', async (t) => {
  const { pool, destroyed } = objectPool({ min: 1, max: 2, maxLifetimeMs: 120, lifetimeJitter: 0, idleTimeoutMs: 0 })
  const borrowed = await pool.acquire()
  const idle = await pool.acquire()
  pool.release(idle)
  await waitFor('the idle one to retire', () => destroyed.some((d) => d.id === idle.id))
  t.deepEqual(destroyed, [{ id: idle.id, reason: 'lifetime' }])
  await sleep(60)
  t.false(
    destroyed.some((d) => d.id === borrowed.id),
    'never retired while borrowed',
  )
  pool.release(borrowed)
  t.deepEqual(destroyed[1], { id: borrowed.id, reason: 'lifetime' })
  await waitFor('a replacement for min', () => pool.stats().size >= 1)
  const fresh = await pool.acquire()
  t.true(fresh.id > borrowed.id)
  pool.release(fresh)
  await pool.close()
})

// ---------------------------------------------------------------------------------------------
// Validation

test('a socket the server closed fails validation on borrow and is replaced', async (t) => {
  const server = await startEchoServer()
  const pool = new ConnectionPool({
    ...tcpResourceFactory({ host: '127.0.0.1', port: server.port }),
    max: 2,
    validateAfterIdleMs: 0,
  })
  const reasons: DestroyReason[] = []
  pool.on('destroy', (_, reason) => reasons.push(reason))
  const failed: net.Socket[] = []
  pool.on('validationFailed', (socket) => failed.push(socket))
  const first = await pool.acquire()
  t.is(await roundTrip(first, 'one\n'), 'one\n')
  pool.release(first)

  server.resetAll()
  await waitFor('the client to see the reset', () => first.destroyed)
  const second = await pool.acquire()
  t.not(second, first)
  t.is(await roundTrip(second, 'two\n'), 'two\n')
  t.deepEqual(failed, [first])
  t.deepEqual(reasons, ['validation'])
  t.like(pool.stats(), { validationFailures: 1, creations: 2, destructions: 1 })
  pool.release(second)
  await pool.close()
  await server.close()
})

test('keep-alive validates idle resources on an interval and replaces the ones that fail', async (t) => {
  const dead = new Set<number>()
  const validated: number[] = []
  const { pool, destroyed } = objectPool({
    min: 2,
    max: 2,
    keepAliveMs: 40,
    validateOnBorrow: false,
    validate: (resource) => {
      validated.push(resource.id)
      return !dead.has(resource.id)
    },
  })
  await waitFor('min resources', () => pool.stats().idle === 2)
  await waitFor('keep-alive checks of both', () => new Set(validated).size === 2)
  dead.add(1)
  await waitFor('the dead one to be replaced', () => destroyed.length === 1 && pool.stats().idle === 2)
  t.deepEqual(destroyed, [{ id: 1, reason: 'validation' }])
  t.is(pool.stats().validationFailures, 1)
  t.is(pool.stats().creations, 3, 'a replacement was created for min')
  await pool.close()
})

test('a throwing or hanging validate counts as a failure', async (t) => {
  let calls = 0
  const { pool, destroyed } = objectPool({
    max: 1,
    validateAfterIdleMs: 0,
    validateTimeoutMs: 30,
    validate: (resource) => {
      calls++
      if (resource.id === 1) throw new Error('broken')
      if (resource.id === 2) return new Promise<boolean>(() => {}) // never answers
      return true
    },
  })
  const errors: unknown[] = []
  pool.on('validationFailed', (_, error) => errors.push(error))
  pool.release(await pool.acquire()) // #1, fresh: not validated
  pool.release(await pool.acquire()) // #1 throws -> #2, fresh
  const third = await pool.acquire() // #2 hangs -> #3
  t.is(third.id, 3)
  t.is(calls, 2)
  t.deepEqual(
    destroyed.map((d) => d.reason),
    ['validation', 'validation'],
  )
  t.is((errors[0] as Error).message, 'broken')
  t.true(errors[1] instanceof TimeoutError)
  pool.release(third)
  await pool.close()
})

// ---------------------------------------------------------------------------------------------
// Creation failures and the breaker

test('creation failures open the breaker, callers fail fast, and the pool recovers when the server returns', async (t) => {
  const port = await freePort() // nothing listens: connections are refused
  const pool = new ConnectionPool({
    ...tcpResourceFactory({ host: '127.0.0.1', port }),
    max: 2,
    acquireTimeoutMs: 10_000,
    createRetryIntervalMs: 5,
    breaker: { consecutiveFailures: 2, openMs: 400, maxOpenMs: 400, jitter: 0 },
  })
  const transitions: CircuitStateChange[] = []
  pool.on('breaker', (change) => transitions.push(change))
  const createErrors: unknown[] = []
  pool.on('createError', (error) => createErrors.push(error))

  const error = await t.throwsAsync(pool.acquire(), { instanceOf: PoolCircuitOpenError })
  t.true(error instanceof CircuitOpenError)
  t.is(error.code, 'ERR_OPTLAYER_CIRCUIT_OPEN')
  t.is((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED')
  t.true(error.retryAfterMs > 0 && error.retryAfterMs <= 400)
  t.is(createErrors.length, 2, 'stopped trying after consecutiveFailures')
  t.deepEqual(transitions, [{ from: 'closed', to: 'open' }])

  // While open, nobody waits: no new connection attempt, an immediate typed error.
  await t.throwsAsync(pool.acquire(), { instanceOf: PoolCircuitOpenError })
  t.is(createErrors.length, 2)
  t.like(pool.stats(), { breaker: 'open', waiting: 0, pending: 0, createFailures: 2 })
  t.true(pool.stats().rejections >= 2)

  const server = await startEchoServer(undefined, port)
  await waitFor('the open period to end', () => pool.stats().breaker !== 'open')
  const socket = await pool.acquire()
  t.is(await roundTrip(socket, 'back\n'), 'back\n')
  t.like(pool.stats(), { breaker: 'closed', creations: 1 })
  t.deepEqual(transitions.slice(1), [
    { from: 'open', to: 'half-open' },
    { from: 'half-open', to: 'closed' },
  ])
  pool.release(socket)
  await pool.close()
  await server.close()
})

test('an acquire timeout while creation fails says so and carries the creation error', async (t) => {
  const { pool } = objectPool({
    max: 2,
    acquireTimeoutMs: 80,
    createRetryIntervalMs: 20,
    breaker: false,
    create: () => Promise.reject(new Error('db is down')),
  })
  const error = await t.throwsAsync(pool.acquire(), { instanceOf: PoolTimeoutError })
  t.like(error, { reason: 'creation-failing', creationFailing: true, saturated: false })
  t.is((error.cause as Error).message, 'db is down')
  t.regex(error.message, /creating resources is failing/)
  t.true(pool.stats().createFailures >= 2, 'creation was retried while the caller waited')
  await pool.close()
})

test('a create() that hangs times out and its late resource is destroyed', async (t) => {
  let release: ((value: { id: number }) => void) | undefined
  const { pool, destroyed } = objectPool({
    max: 1,
    createTimeoutMs: 30,
    acquireTimeoutMs: 60,
    breaker: false,
    createRetryIntervalMs: 1_000,
    create: () =>
      new Promise((resolve) => {
        release = resolve
      }),
  })
  const errors: unknown[] = []
  pool.on('createError', (error) => errors.push(error))
  await t.throwsAsync(pool.acquire(), { instanceOf: PoolTimeoutError })
  // A stalled event loop may run the 60 ms acquire timer before the 30 ms create timer.
  await waitFor('the create timeout to be reported', () => errors.length === 1)
  t.true(errors[0] instanceof TimeoutError)
  t.regex((errors[0] as Error).message, /create\(\) did not settle within 30 ms/)
  release?.({ id: 99 })
  await waitFor('the late resource to be destroyed', () => destroyed.length === 1)
  t.deepEqual(destroyed, [{ id: 99, reason: 'late' }])
  t.is(pool.stats().size, 0)
  await pool.close()
})

// ---------------------------------------------------------------------------------------------
// TLS

function makeCertificate(): { key: string; cert: string } | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optlayer-pool-tls-'))
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
    return {
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    }
  } catch {
    return undefined
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('TLS sockets to a server with a self-signed certificate made at test time', async (t) => {
  const certificate = makeCertificate()
  if (certificate === undefined) {
    t.fail('openssl could not make a certificate (is it installed?)')
    return
  }
  const server = await startEchoServer(certificate)
  const pool = new ConnectionPool({
    ...tcpResourceFactory({
      host: '127.0.0.1',
      port: server.port,
      tls: { ca: certificate.cert, servername: 'localhost' },
    }),
    max: 2,
  })
  const replies = await Promise.all(
    [1, 2, 3, 4].map((i) =>
      pool.use(async (socket) => {
        t.true(socket.authorized)
        t.is(socket.getPeerCertificate().subject.CN, 'localhost')
        return roundTrip(socket, `secure ${i}\n`)
      }),
    ),
  )
  t.deepEqual(replies, ['secure 1\n', 'secure 2\n', 'secure 3\n', 'secure 4\n'])
  t.true(server.accepted <= 2)
  await pool.close()

  // Without the CA the handshake is refused, and the error says why.
  const untrusting = tcpResourceFactory({ host: '127.0.0.1', port: server.port, tls: { servername: 'localhost' } })
  const error = await t.throwsAsync(untrusting.create())
  t.is((error as NodeJS.ErrnoException).code, 'DEPTH_ZERO_SELF_SIGNED_CERT')
  await server.close()
})

test('tcpResourceFactory validates its options and times out a connect that hangs', async (t) => {
  t.throws(() => tcpResourceFactory({ host: '', port: 1 }), { instanceOf: InvalidArgumentError, message: /host/ })
  t.throws(() => tcpResourceFactory({ host: 'x', port: 70_000 }), { message: /invalid port/ })
  // A listener that never completes TLS: the handshake hangs until connectTimeoutMs.
  const silent = net.createServer(() => {})
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  const { port } = silent.address() as net.AddressInfo
  const factory = tcpResourceFactory({ host: '127.0.0.1', port, tls: {}, connectTimeoutMs: 50 })
  await t.throwsAsync(factory.create(), { instanceOf: TimeoutError, message: /took longer than 50 ms/ })
  silent.close()
})

// ---------------------------------------------------------------------------------------------
// Redis

test('a pool of ioredis clients: while Redis is down callers fail fast; after restart dead clients are replaced', async (t) => {
  const redis = await startStandalone()
  const pool = new ConnectionPool<Redis>({
    create: async () => {
      const client = new Redis({
        host: redis.host,
        port: redis.port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      })
      client.on('error', () => {}) // outages are expected; commands report them
      try {
        await client.connect()
      } catch (error) {
        client.disconnect()
        throw error
      }
      return client
    },
    destroy: (client) => client.disconnect(),
    validate: async (client) => client.status === 'ready' && (await client.ping()) === 'PONG',
    min: 2,
    max: 4,
    validateAfterIdleMs: 0,
    createRetryIntervalMs: 10,
    breaker: { consecutiveFailures: 2, openMs: 100, maxOpenMs: 200 },
  })
  try {
    await pool.use((client) => client.set('pool:k', 'v1'))
    t.is(await pool.use((client) => client.get('pool:k')), 'v1')
    await waitFor('min clients', () => pool.stats().size >= 2)
    const before = pool.stats()

    await redis.kill()
    // Down: the idle clients fail validation, reconnecting is refused, the breaker opens.
    const down = await t.throwsAsync(
      pool.use((client) => client.ping()),
      { instanceOf: PoolCircuitOpenError },
    )
    t.is(down.code, 'ERR_OPTLAYER_CIRCUIT_OPEN')
    t.truthy(down.cause, 'carries the connection error')
    t.is(pool.stats().size, 0, 'the dead clients are gone')

    await redis.restart()
    await waitFor('the breaker to let a probe through', () => pool.stats().breaker !== 'open')
    // Back up: new clients are created (the probe first), and only working ones are lent.
    const results = await Promise.all([1, 2, 3].map((i) => pool.use((client) => client.set(`pool:${i}`, `${i}`))))
    t.deepEqual(results, ['OK', 'OK', 'OK'])
    t.is(await pool.use((client) => client.get('pool:2')), '2')
    const after = pool.stats()
    t.true(after.validationFailures >= 1, 'dead clients failed validation')
    t.true(after.creations > before.creations, 'and were replaced')
    t.is(after.active, 0)
  } finally {
    await pool.close()
    await redis.stop()
  }
})

// ---------------------------------------------------------------------------------------------
// Giving back

test('double release and release of a foreign resource are typed errors that change nothing', async (t) => {
  const { pool } = objectPool({ max: 2 })
  const resource = await pool.acquire()
  pool.release(resource)
  const before = pool.stats()
  const twice = t.throws(() => pool.release(resource), { instanceOf: PoolReleaseError })
  t.is(twice.code, 'ERR_OPTLAYER_POOL_RELEASE', 'a code of its own: a caller bug, not a bad option')
  t.true(twice instanceof OptlayerError)
  t.false(twice instanceof InvalidArgumentError)
  t.is(twice.fault, 'double-release')
  t.regex(twice.message, /resource #1, which is not borrowed/)
  const foreign = t.throws(() => pool.release({ id: 1 }), { instanceOf: PoolReleaseError })
  t.is(foreign.fault, 'foreign')
  t.throws(() => pool.destroy(resource), { instanceOf: PoolReleaseError })
  t.false(new InvalidArgumentError('x') instanceof PoolReleaseError, 'the subclass check is exact')
  const after = pool.stats()
  t.deepEqual({ ...after, acquireLatencyMs: null }, { ...before, acquireLatencyMs: null })
  await pool.close()
})

test('use() returns the resource on success, and destroys it on error when destroyOnError says so', async (t) => {
  const { pool, destroyed } = objectPool({
    max: 1,
    destroyOnError: (error) => error instanceof RangeError,
  })
  t.is(await pool.use((r) => r.id * 10), 10)
  await t.throwsAsync(
    pool.use(() => {
      throw new TypeError('kept')
    }),
    { instanceOf: TypeError },
  )
  t.deepEqual(destroyed, [])
  await t.throwsAsync(
    pool.use(async () => {
      throw new RangeError('broken')
    }),
    { instanceOf: RangeError },
  )
  t.deepEqual(destroyed, [{ id: 1, reason: 'error' }])
  t.is((await pool.use((r) => r)).id, 2, 'replaced by a new one')
  t.like(pool.stats(), { active: 0, releases: 4 })
  await pool.close()
})

test('drain() destroys idle resources at once and waits for the borrowed ones to come back', async (t) => {
  const server = await startEchoServer()
  const pool = new ConnectionPool({ ...tcpResourceFactory({ host: '127.0.0.1', port: server.port }), max: 3 })
  const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()])
  pool.release(c!)
  t.like(pool.stats(), { active: 2, idle: 1 })
  const drained = pool.drain()
  t.like(pool.stats(), { state: 'draining', idle: 0, destructions: 1 }, 'the idle socket is destroyed at once')
  await t.throwsAsync(pool.acquire(), { instanceOf: ClosedError, message: /draining/ })
  t.is(await peek(drained), 'pending', 'borrowed sockets are still out')
  t.is(await roundTrip(a!, 'still usable\n'), 'still usable\n')
  pool.release(a!)
  t.true(a!.destroyed, 'returned while draining: destroyed at once')
  t.is(await peek(drained), 'pending')
  pool.release(b!)
  await drained
  t.like(pool.stats(), { state: 'closed', size: 0, active: 0, creations: 3, destructions: 3 })
  await waitFor('every server connection closed', () => server.open.size === 0)
  t.is(pool.drain(), drained, 'idempotent')
  await server.close()
})

test('drain() rejects waiting callers with ClosedError', async (t) => {
  const { pool } = objectPool({ max: 1 })
  const held = await pool.acquire()
  const waiting = [pool.acquire(), pool.acquire()]
  const drained = pool.drain()
  for (const waiter of waiting) await t.throwsAsync(waiter, { instanceOf: ClosedError, code: 'ERR_OPTLAYER_CLOSED' })
  t.is(pool.stats().waiting, 0)
  pool.release(held)
  await drained
  t.is(pool.stats().state, 'closed')
})

test('close() destroys resources still borrowed after closeTimeoutMs; their late release is ignored', async (t) => {
  const { pool, destroyed } = objectPool({ max: 2, closeTimeoutMs: 40 })
  const kept = await pool.acquire()
  const returned = await pool.acquire()
  pool.release(returned)
  await pool.close()
  t.deepEqual(
    destroyed.map((d) => d.reason),
    ['closed', 'closed'],
  )
  t.like(pool.stats(), { state: 'closed', active: 0, size: 0 })
  t.notThrows(() => pool.release(kept), 'the holder did nothing wrong')
  t.throws(() => pool.release(kept), { instanceOf: PoolReleaseError }, 'but only once')
  await t.throwsAsync(pool.acquire(), { instanceOf: ClosedError })
})

// ---------------------------------------------------------------------------------------------
// HTTP upstreams

test('httpUpstream sends requests over undici keep-alive connections, at most max of them', async (t) => {
  const connections = new Set<net.Socket>()
  let maxOpen = 0
  const server = http.createServer((request, response) => {
    setTimeout(() => response.end(`${request.method} ${request.url}`), 2)
  })
  server.on('connection', (socket) => {
    connections.add(socket)
    maxOpen = Math.max(maxOpen, connections.size)
    socket.on('close', () => connections.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const upstream = httpUpstream(`http://127.0.0.1:${port}/ignored/path`, { max: 3, idleTimeoutMs: 2_000 })
  t.is(upstream.origin, `http://127.0.0.1:${port}`)

  const bodies = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const { statusCode, body } = await upstream.request({ path: `/item/${i}` })
      t.is(statusCode, 200)
      return body.text()
    }),
  )
  t.deepEqual(
    bodies,
    Array.from({ length: 30 }, (_, i) => `GET /item/${i}`),
  )
  const posted = await upstream.request({ path: '/form', method: 'POST', body: 'x' })
  t.is(await posted.body.text(), 'POST /form')
  t.true(maxOpen <= 3, `server saw ${maxOpen} connections`)
  const stats = upstream.stats()
  t.like(stats, { requests: 31, failures: 0, running: 0, queued: 0 })
  t.true(stats.connected >= 1 && stats.connected <= 3)
  await waitFor('every connection to be free', () => upstream.stats().free === upstream.stats().connected)
  t.is(upstream.stats().connected, stats.connected, 'idle keep-alive connections stay open')
  t.is(stats.headersLatencyMs.count, 31)

  await upstream.close()
  await t.throwsAsync(upstream.request('/late'), { instanceOf: ClosedError })
  t.throws(() => httpUpstream('ftp://example.com'), { instanceOf: InvalidArgumentError })
  t.throws(() => httpUpstream(`http://127.0.0.1:${port}`, { max: 0 }), { message: /invalid max/ })
  server.close()
})

test('httpUpstream.dispatch hands the response to undici handler callbacks and counts it as request() does', async (t) => {
  const server = http.createServer((request, response) => response.end(`${request.method} ${request.url}`))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const upstream = httpUpstream(`http://127.0.0.1:${port}`)
  const exchange = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      let status = 0
      const chunks: Buffer[] = []
      upstream.dispatch(
        { path, method: 'PUT', body: 'x' },
        {
          onResponseStart: (_controller, statusCode) => (status = statusCode),
          onResponseData: (_controller, chunk) => chunks.push(chunk),
          onResponseEnd: () => resolve({ status, body: Buffer.concat(chunks).toString() }),
          onResponseError: (_controller, error) => reject(error),
        },
      )
    })
  t.deepEqual(await exchange('/a'), { status: 200, body: 'PUT /a' })
  t.deepEqual(await exchange('/b?c=d'), { status: 200, body: 'PUT /b?c=d' })
  t.like(upstream.stats(), { requests: 2, failures: 0 })
  t.is(upstream.stats().headersLatencyMs.count, 2)
  server.close()
  server.closeAllConnections()
  await once(server, 'close')
  await waitFor('undici to see its connection closed', () => upstream.stats().connected === 0)
  await t.throwsAsync(exchange('/refused'), { code: 'ECONNREFUSED' })
  t.like(upstream.stats(), { requests: 3, failures: 1 })
  await upstream.close()
  t.throws(() => upstream.dispatch({ path: '/late' }, {}), { instanceOf: ClosedError })
})

test('HTTP upstreams reach /metrics by origin, two of one origin summed, and leave it on close', async (t) => {
  const server = http.createServer((_request, response) => response.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const gateways = httpUpstream(origin)
  const layers = httpUpstream(origin)
  for (const upstream of [gateways, layers, gateways]) await (await upstream.request('/')).body.text()
  const body = await new MetricsCollector({ defaultMetrics: false }).expose()
  // Other specs of this file run at once with upstreams of their own: only this origin's series are compared.
  const series = (name: string) =>
    body.split('\n').filter((line) => line.startsWith(`optlayer_upstream_${name}{origin="${origin}"}`))
  t.deepEqual(series('requests_total'), [`optlayer_upstream_requests_total{origin="${origin}"} 3`])
  t.deepEqual(series('connections'), [`optlayer_upstream_connections{origin="${origin}"} 2`])
  t.deepEqual(series('failures_total'), [`optlayer_upstream_failures_total{origin="${origin}"} 0`])
  t.regex(body, new RegExp(`optlayer_upstream_headers_latency_p99_seconds\\{origin="${origin}"\\} [0-9.e-]+`))
  await Promise.all([gateways.close(), layers.close()])
  t.false((await new MetricsCollector({ defaultMetrics: false }).expose()).includes(`origin="${origin}"`))
})

test('pool usage reaches /metrics under the pool name, and leaves it on close', async (t) => {
  const { pool } = objectPool({ name: 'metrics-probe', max: 2 })
  const held = await pool.acquire()
  const body = await new MetricsCollector({ defaultMetrics: false }).expose()
  t.regex(body, /optlayer_pool_active\{pool="metrics-probe"\} 1/)
  t.regex(body, /optlayer_pool_acquires_total\{pool="metrics-probe"\} 1/)
  pool.release(held)
  await pool.close()
  t.notRegex(await new MetricsCollector({ defaultMetrics: false }).expose(), /pool="metrics-probe"/)
})

test('acquire latency: acquires served at once read as 0 ms, and the figures outlive close()', async (t) => {
  let clock = 0
  const { pool } = objectPool({ max: 1, now: () => clock })
  const first = pool.acquire()
  clock = 25 // the first caller waits 25 ms for the creation
  pool.release(await first)
  for (let i = 0; i < 99; i++) pool.release(await pool.acquire())
  const latency = pool.stats().acquireLatencyMs
  t.like(latency, { count: 100, p50: 0, p90: 0, p99: 0, max: 25 })
  t.true(Math.abs(latency.p999 - 25) <= 0.025, `p99.9 is the one wait: ${latency.p999}`)
  t.true(Math.abs(latency.mean - 0.25) <= 0.001, `mean: ${latency.mean}`)
  await pool.close()
  t.deepEqual(pool.stats().acquireLatencyMs, latency, 'closing frees the histogram but keeps its last figures')
})
