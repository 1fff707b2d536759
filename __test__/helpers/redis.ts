/**
 * Test harness that runs private, throw-away `redis-server` processes (a standalone server or a cluster) so specs can
 * exercise real outages and failovers without touching the machine's own Redis on 127.0.0.1:6379.
 *
 * Every node runs on a free port of 127.0.0.1 in its own `optlayer-redis-*` directory under `os.tmpdir()`, keeps
 * nothing on disk except cluster state, and is killed and removed by `stop()`, by the process `exit` hook, or, after a
 * hard kill of the test process, by the stale-directory sweep that runs when the next test process starts a node.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import Redis from 'ioredis'

/** Absolute path of the `redis-server` binary the harness runs (Debian's `redis-server` package). */
export const REDIS_SERVER_BIN = '/usr/bin/redis-server'

/** Absolute path of the `redis-cli` binary used to create clusters (Debian's `redis-tools` package). */
export const REDIS_CLI_BIN = '/usr/bin/redis-cli'

/** The only address harness servers listen on. */
export const REDIS_HOST = '127.0.0.1'

/** Name prefix of the temporary directories under `os.tmpdir()`; the stale-directory sweep only looks at these. */
export const TEMP_DIR_PREFIX = 'optlayer-redis-'

// The machine's own Redis (and its would-be cluster bus port) must never be picked or contacted.
const FORBIDDEN_PORTS: ReadonlySet<number> = new Set([6379, 16379])
const CLUSTER_BUS_OFFSET = 10000
const TOTAL_SLOTS = 16384
const OWNER_FILE = 'owner.json'
const LOG_FILE = 'redis.log'
// redis-server writes to stdout/stderr only before it opens its logfile (bad arguments and the like).
const STDIO_FILE = 'stdio.log'
const POLICY_RC_D = '/usr/sbin/policy-rc.d'

const STARTUP_TIMEOUT_MS = 10_000
const QUERY_TIMEOUT_MS = 1_000
const KILL_TIMEOUT_MS = 5_000
const PORT_ATTEMPTS = 5
const CLUSTER_CREATE_TIMEOUT_MS = 60_000
const CLUSTER_FORMATION_TIMEOUT_MS = 30_000
const DEFAULT_HEALTHY_TIMEOUT_MS = 30_000
const POLL_INTERVAL_MS = 100
// An owner-less directory younger than this may belong to a process that is creating it right now.
const ORPHAN_GRACE_MS = 60_000

/** Base class of the harness's own errors (invalid options are `RangeError`s; failed queries pass ioredis errors on). */
export class RedisHarnessError extends Error {
  override name = 'RedisHarnessError'
}

/** `redis-server` or `redis-cli` is missing and could not be installed. */
export class RedisNotInstalledError extends RedisHarnessError {
  override name = 'RedisNotInstalledError'
}

/** A bounded wait ran out (startup, cluster formation, failover, process exit...). */
export class RedisTimeoutError extends RedisHarnessError {
  override name = 'RedisTimeoutError'
}

// Internal: the chosen port was taken between probing and redis-server binding it; the caller retries.
class PortInUseError extends RedisHarnessError {
  override name = 'PortInUseError'
}

// ---------------------------------------------------------------------------------------------------------------
// Process-wide bookkeeping and cleanup
// ---------------------------------------------------------------------------------------------------------------

const liveChildren = new Map<number, ChildProcess>()
const liveDirs = new Set<string>()
// Ports of every node that has not been stopped, including killed ones that may be restarted on the same port.
const reservedPorts = new Set<number>()

interface OwnerRecord {
  ownerPid: number
  redisPid?: number
  port?: number
}

let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' listeners must be synchronous; SIGKILL also works on paused (SIGSTOPped) nodes.
  process.once('exit', () => {
    for (const pid of liveChildren.keys()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
      } catch {
        // nothing more can be done while exiting
      }
    }
  })
}

function writeOwner(dir: string, record: OwnerRecord): void {
  fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify(record))
}

function readOwner(dir: string): OwnerRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'))
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { ownerPid, redisPid, port } = parsed as Record<string, unknown>
    if (typeof ownerPid !== 'number') return undefined
    return {
      ownerPid,
      ...(typeof redisPid === 'number' ? { redisPid } : {}),
      ...(typeof port === 'number' ? { port } : {}),
    }
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function isHarnessRedis(pid: number, port: number): boolean {
  try {
    // The pid may have been reused since the owner file was written; redis-server sets its title to "host:port".
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    return cmdline.includes('redis-server') && cmdline.includes(`${REDIS_HOST}:${port}`)
  } catch {
    return false
  }
}

/**
 * Removes `optlayer-redis-*` directories left behind by test processes that died without running their exit hook
 * (SIGKILL, OOM, a killed CI job), first killing the redis-server recorded in each one if it still runs.
 * Directories whose owning process is still alive are left alone. Runs automatically before the first node starts.
 */
export function sweepStaleDirs(): void {
  const tmp = os.tmpdir()
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(tmp, { withFileTypes: true })
  } catch {
    return
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(TEMP_DIR_PREFIX)) continue
    const dir = path.join(tmp, entry.name)
    const owner = readOwner(dir)
    if (owner === undefined) {
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < ORPHAN_GRACE_MS) continue
      } catch {
        continue
      }
    } else if (isAlive(owner.ownerPid)) {
      continue
    }
    if (owner?.redisPid !== undefined && owner.port !== undefined && isHarnessRedis(owner.redisPid, owner.port)) {
      try {
        process.kill(owner.redisPid, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    } catch {
      // another sweeper may be removing it at the same time
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Installation check
// ---------------------------------------------------------------------------------------------------------------

let installCheck: Promise<void> | undefined

// Not under TEMP_DIR_PREFIX: the stale-directory sweep must never delete a lock someone holds.
const INSTALL_LOCK = path.join(os.tmpdir(), 'optlayer-apt-redis.lock')

// Runs as root under INSTALL_LOCK. Shell traps remove the temporary policy-rc.d even when apt fails or times out.
const INSTALL_SCRIPT = `
set -e
# Another test process may have installed it while this one waited for the lock.
if [ -x ${REDIS_SERVER_BIN} ] && [ -x ${REDIS_CLI_BIN} ]; then exit 0; fi
created=
cleanup() { if [ -n "$created" ]; then rm -f ${POLICY_RC_D}; fi; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# invoke-rc.d asks policy-rc.d first; 101 means "not allowed", so the postinst starts no server on 6379.
if [ ! -e ${POLICY_RC_D} ]; then
  created=1
  printf '#!/bin/sh\\nexit 101\\n' > ${POLICY_RC_D}
  chmod 755 ${POLICY_RC_D}
fi
timeout 300 apt-get update
timeout 600 apt-get -o DPkg::Lock::Timeout=300 install -y redis-server
`

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

function missingBinaries(): string[] {
  return [REDIS_SERVER_BIN, REDIS_CLI_BIN].filter((file) => !isExecutable(file))
}

/**
 * Makes sure `redis-server` and `redis-cli` exist. When they are missing and the process runs as root, installs
 * Debian's `redis-server` package (which brings `redis-tools`) without letting it start a system server; otherwise
 * rejects with {@link RedisNotInstalledError}. The check runs once per process; later calls share its result.
 */
export function ensureRedisInstalled(): Promise<void> {
  installCheck ??= installIfMissing()
  return installCheck
}

async function installIfMissing(): Promise<void> {
  const missing = missingBinaries()
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    throw new RedisNotInstalledError(
      `${missing.join(' and ')} not found. The Redis tests need Redis 7 installed: on Debian/Ubuntu run ` +
        '`sudo apt-get install -y redis-server` (it brings redis-cli through redis-tools).',
    )
  }
  try {
    // flock serialises installs of parallel test processes (ava runs spec files concurrently), so none runs apt while
    // another one owns or has just removed the temporary policy-rc.d.
    await run('flock', ['-w', '900', INSTALL_LOCK, 'sh', '-c', INSTALL_SCRIPT], {
      timeoutMs: 20 * 60_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  } catch (error) {
    throw new RedisNotInstalledError(`${missing.join(' and ')} not found and installing redis-server failed`, {
      cause: error,
    })
  }
  const stillMissing = missingBinaries()
  if (stillMissing.length > 0) {
    throw new RedisNotInstalledError(
      `apt-get installed redis-server but ${stillMissing.join(' and ')} is still missing`,
    )
  }
}

let prerequisites: Promise<void> | undefined

function prepare(): Promise<void> {
  prerequisites ??= (async () => {
    installExitHook()
    sweepStaleDirs()
    await ensureRedisInstalled()
  })()
  return prerequisites
}

// ---------------------------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------------------------

function noop(): void {}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n')
}

function readFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file).subarray(offset).toString('utf8')
  } catch {
    return ''
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

interface RunResult {
  stdout: string
  stderr: string
}

function run(
  file: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        env: options.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr })
          return
        }
        const output = lastLines(`${stdout}\n${stderr}`, 30)
        reject(
          new RedisHarnessError(`\`${file} ${args.join(' ')}\` failed: ${error.message}\n${output}`, { cause: error }),
        )
      },
    )
  })
}

/** Resolves to true if `promise` settles within `ms`, false otherwise; never rejects. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Polls `probe` until it returns true or `timeoutMs` passes. The probe returns a description of what is still wrong
 * (or throws), which ends up in the timeout error together with `details()`.
 */
async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<true | string>,
  details?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let problem = 'not checked yet'
  while (Date.now() < deadline) {
    try {
      const result = await probe()
      if (result === true) return
      problem = result
    } catch (error) {
      problem = errorMessage(error)
    }
    await sleep(Math.max(0, Math.min(POLL_INTERVAL_MS, deadline - Date.now())))
  }
  const extra = details === undefined ? '' : `\n${details()}`
  throw new RedisTimeoutError(`Timed out after ${timeoutMs} ms waiting for ${what}; last problem: ${problem}${extra}`)
}

function assertHarnessPort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535 || FORBIDDEN_PORTS.has(port)) {
    throw new RedisHarnessError(`Refusing to use port ${port}: it is invalid or belongs to the machine's own Redis`)
  }
}

/** Opens a short-lived ioredis connection that fails fast instead of retrying, runs `fn`, and always closes it. */
async function withClient<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  assertHarnessPort(port)
  const client = new Redis({
    host: REDIS_HOST,
    port,
    lazyConnect: true,
    connectTimeout: QUERY_TIMEOUT_MS,
    commandTimeout: QUERY_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    retryStrategy: () => null,
  })
  // Failures reach the caller as rejected commands; the listener only stops ioredis logging "Unhandled error event".
  client.on('error', noop)
  try {
    await client.connect()
    return await fn(client)
  } finally {
    client.disconnect()
  }
}

function asText(value: unknown, what: string): string {
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new RedisHarnessError(`Unexpected reply to ${what}: ${JSON.stringify(value)}`)
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return fields
}

// ---------------------------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------------------------

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
async function reservePort(cluster: boolean): Promise<number> {
  const [low, high] = clusterPortRange()
  for (let attempt = 0; attempt < 50; attempt++) {
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
    `Could not find a free ${cluster ? 'port whose cluster bus port (+10000) is free too' : 'port'} after 50 attempts`,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------------------------

/**
 * One harness-owned `redis-server` process. Create it through {@link startStandalone} or {@link startCluster}; the
 * handle survives kill()/restart() cycles and keeps its port and directory until stop().
 */
export class RedisNode {
  /** Always 127.0.0.1. */
  readonly host = REDIS_HOST
  /** The node's private temporary directory (logfile, owner file and, for cluster nodes, nodes.conf). */
  readonly dir: string
  private readonly extraArgs: readonly string[]
  private readonly cluster: boolean
  private currentPort = 0
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private isPaused = false
  private stopping: Promise<void> | undefined

  private constructor(dir: string, extraArgs: readonly string[], cluster: boolean) {
    this.dir = dir
    this.extraArgs = extraArgs
    this.cluster = cluster
  }

  /** TCP port the node listens on (cluster nodes also use port + 10000 for the cluster bus). */
  get port(): number {
    return this.currentPort
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://${this.host}:${this.port}`
  }

  /** True while the redis-server process exists (also while it is paused). */
  get running(): boolean {
    return this.child !== undefined
  }

  /** True after pause() until resume() or until the process exits. */
  get paused(): boolean {
    return this.isPaused
  }

  /** True if the node is running and not paused, i.e. expected to answer. */
  get reachable(): boolean {
    return this.running && !this.isPaused
  }

  /** Pid of the current redis-server process, undefined while it is not running. */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /**
   * Sends `signal` to the server and waits (bounded) until the process has exited. Resolves at once if it is not
   * running. Use pause()/resume() instead of SIGSTOP/SIGCONT.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal === 'SIGSTOP' || signal === 'SIGTSTP' || signal === 'SIGCONT') {
      throw new RedisHarnessError(`kill() waits for the process to exit; use pause()/resume() instead of ${signal}`)
    }
    const { child, exited } = this
    if (child === undefined || exited === undefined) return
    child.kill(signal)
    // A stopped process only acts on a catchable signal once it is continued.
    if (this.isPaused && signal !== 'SIGKILL') child.kill('SIGCONT')
    if (await settlesWithin(exited, KILL_TIMEOUT_MS)) return
    child.kill('SIGKILL')
    const gone = await settlesWithin(exited, KILL_TIMEOUT_MS)
    throw new RedisTimeoutError(
      `redis-server on port ${this.port} did not exit within ${KILL_TIMEOUT_MS} ms of ${signal}; ` +
        (gone ? 'it was SIGKILLed' : 'even SIGKILL did not end it'),
    )
  }

  /** Freezes the server with SIGSTOP: connections stay open but nothing is answered (a hung node). */
  pause(): void {
    if (this.child === undefined) throw new RedisHarnessError(`redis-server on port ${this.port} is not running`)
    this.child.kill('SIGSTOP')
    this.isPaused = true
  }

  /** Continues a paused server with SIGCONT. */
  resume(): void {
    if (this.child === undefined) throw new RedisHarnessError(`redis-server on port ${this.port} is not running`)
    this.child.kill('SIGCONT')
    this.isPaused = false
  }

  /**
   * Starts the server again on the same port and in the same directory (a cluster node rejoins from its nodes.conf)
   * and waits until it answers (its `INFO` must show the new pid). A running node is SIGKILLed first. Data is not kept
   * across restarts.
   */
  async restart(): Promise<void> {
    this.assertNotStopped()
    await this.kill('SIGKILL')
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnAndWait(this.port)
        return
      } catch (error) {
        if (!(error instanceof PortInUseError)) throw error
        // Only a foreign process can hold the port here; give it a moment, then give up.
        if (attempt >= PORT_ATTEMPTS) {
          throw new RedisHarnessError(
            `Cannot restart redis-server on port ${this.port}: the port (or its cluster bus port) is still taken ` +
              `by another process after ${attempt} attempts`,
            { cause: error },
          )
        }
        await sleep(200 * attempt)
      }
    }
  }

  /** Kills the server and removes its directory. Idempotent; the handle cannot be restarted afterwards. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.kill('SIGKILL')
      } finally {
        if (this.currentPort !== 0) for (const p of portsOf(this.currentPort, this.cluster)) reservedPorts.delete(p)
        await fs.promises.rm(this.dir, { recursive: true, force: true, maxRetries: 3 })
        liveDirs.delete(this.dir)
      }
    })()
    return this.stopping
  }

  /** The last `lines` lines of the server's logfile (and of anything it printed before opening it). */
  logTail(lines = 20): string {
    const early = readFrom(path.join(this.dir, STDIO_FILE), 0).trim()
    const log = lastLines(readFrom(path.join(this.dir, LOG_FILE), 0), lines)
    return early === '' ? log : `${lastLines(early, lines)}\n${log}`
  }

  /**
   * Creates the node's directory and starts it on a free port. Used by {@link startStandalone} and
   * {@link startCluster}; call those instead.
   */
  static async launch(extraArgs: readonly string[], cluster: boolean): Promise<RedisNode> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), TEMP_DIR_PREFIX))
    liveDirs.add(dir)
    writeOwner(dir, { ownerPid: process.pid })
    const node = new RedisNode(dir, extraArgs, cluster)
    try {
      await node.start()
    } catch (error) {
      await node.stop().catch(noop)
      throw error
    }
    return node
  }

  // First start: picks a free port, retrying with another one when it is taken under our feet.
  private async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await reservePort(this.cluster)
      this.currentPort = port
      try {
        await this.spawnAndWait(port)
        return
      } catch (error) {
        for (const p of portsOf(port, this.cluster)) reservedPorts.delete(p)
        this.currentPort = 0
        if (!(error instanceof PortInUseError) || attempt >= PORT_ATTEMPTS) throw error
        // A failed bus-port bind happens after nodes.conf is written with the old port.
        fs.rmSync(path.join(this.dir, 'nodes.conf'), { force: true })
      }
    }
  }

  private assertNotStopped(): void {
    if (this.stopping !== undefined) throw new RedisHarnessError(`redis-server on port ${this.port} was stopped`)
  }

  private args(port: number): string[] {
    return [
      '--port',
      String(port),
      '--bind',
      REDIS_HOST,
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      this.dir,
      '--logfile',
      path.join(this.dir, LOG_FILE),
      // The default 5 s delay before each diskless full sync would slow every replica (re)join.
      '--repl-diskless-sync-delay',
      '0',
      ...this.extraArgs,
    ]
  }

  private async spawnAndWait(port: number): Promise<void> {
    this.assertNotStopped()
    assertHarnessPort(port)
    const logFile = path.join(this.dir, LOG_FILE)
    const stdioFile = path.join(this.dir, STDIO_FILE)
    const logOffset = fileSize(logFile)
    const stdioOffset = fileSize(stdioFile)
    const stdio = fs.openSync(stdioFile, 'a')
    let child: ChildProcess
    try {
      child = spawn(REDIS_SERVER_BIN, this.args(port), { cwd: this.dir, stdio: ['ignore', stdio, stdio] })
    } finally {
      fs.closeSync(stdio)
    }
    const pid = child.pid
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve))
      throw new RedisHarnessError(`Could not start ${REDIS_SERVER_BIN}: ${error.message}`, { cause: error })
    }
    // Failed kill() calls emit 'error'; kill() reports them through its bounded wait instead.
    child.on('error', noop)
    // Without this a forgotten stop() would keep the test process alive; the exit hook kills the server instead.
    child.unref()
    liveChildren.set(pid, child)
    this.child = child
    this.isPaused = false
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        liveChildren.delete(pid)
        if (this.child === child) {
          this.child = undefined
          this.isPaused = false
        }
        resolve()
      })
    })
    this.exited = exited
    writeOwner(this.dir, { ownerPid: process.pid, redisPid: pid, port })

    const deadline = Date.now() + STARTUP_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (this.child !== child) {
        const output = readFrom(logFile, logOffset) + readFrom(stdioFile, stdioOffset)
        if (/Address already in use/i.test(output)) {
          throw new PortInUseError(`Port ${port} (or its cluster bus port) is already in use`)
        }
        throw new RedisHarnessError(`redis-server on port ${port} exited during startup:\n${lastLines(output, 20)}`)
      }
      // Checking the pid guards against answering for some other server that already holds the port; racing the
      // exit keeps a silent foreign listener from holding us for a whole query timeout per attempt.
      const answeringPid = await Promise.race([
        withClient(port, async (client) => {
          const info = parseInfo(asText(await client.call('INFO', 'server'), 'INFO server'))
          return Number(info.get('process_id'))
        }).catch(() => undefined),
        exited.then(() => undefined),
      ])
      if (answeringPid === pid) return
      if (this.child === child) await sleep(50)
    }
    const log = this.logTail()
    await this.kill('SIGKILL').catch(noop)
    throw new RedisTimeoutError(`redis-server on port ${port} did not answer within ${STARTUP_TIMEOUT_MS} ms:\n${log}`)
  }
}

/** A standalone server: a single {@link RedisNode}. */
export type RedisStandalone = RedisNode

/**
 * Starts a private standalone redis-server on a free port of 127.0.0.1 and resolves once it answers.
 * `extraArgs` are appended to the command line (e.g. `['--appendonly', 'yes']` to keep data across restart()).
 * Call `stop()` on the result (e.g. in `test.after.always`).
 */
export async function startStandalone(extraArgs: readonly string[] = []): Promise<RedisStandalone> {
  await prepare()
  return RedisNode.launch(extraArgs, false)
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------------------------

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
      () => this.describeLogs(),
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
      () => this.describeLogs(),
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
  await prepare()

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
