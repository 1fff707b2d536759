import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { asText, parseInfo, withClient } from './client'
import { PortInUseError, RedisHarnessError, RedisTimeoutError } from './errors'
import { REDIS_SERVER_BIN } from './install'
import { assertHarnessPort, REDIS_HOST, releasePort, reservePort } from './ports'
import { createNodeDir, prepare, releaseDir, trackChild, writeOwner } from './processes'
import { lastLines, noop, settlesWithin, waitUntil } from './run'

const LOG_FILE = 'redis.log'
// redis-server writes to stdout/stderr only before it opens its logfile (bad arguments and the like).
const STDIO_FILE = 'stdio.log'

const STARTUP_TIMEOUT_MS = 10_000
const STARTUP_POLL_MS = 50
const KILL_TIMEOUT_MS = 5_000
const PORT_ATTEMPTS = 5

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
        if (this.currentPort !== 0) releasePort(this.currentPort, this.cluster)
        await releaseDir(this.dir)
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
    const node = new RedisNode(await createNodeDir(), extraArgs, cluster)
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
        releasePort(port, this.cluster)
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
    trackChild(pid, child)
    this.child = child
    this.isPaused = false
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.child === child) {
          this.child = undefined
          this.isPaused = false
        }
        resolve()
      })
    })
    this.exited = exited
    writeOwner(this.dir, { ownerPid: process.pid, redisPid: pid, port })

    // Also ends early when the process exits; that case is reported below with its output.
    let answered = false
    const answers = async (): Promise<true | string> => {
      if (this.child !== child) return true
      // Checking the pid guards against answering for some other server that already holds the port; racing the
      // exit keeps a silent foreign listener from holding us for a whole query timeout per attempt.
      const answeringPid = await Promise.race([
        withClient(port, async (client) => {
          const info = parseInfo(asText(await client.call('INFO', 'server'), 'INFO server'))
          return Number(info.get('process_id'))
        }).catch(() => undefined),
        exited.then(() => undefined),
      ])
      answered = answeringPid === pid
      if (answered || this.child !== child) return true
      return answeringPid === undefined ? 'no answer yet' : `pid ${answeringPid} answers instead of ${pid}`
    }
    try {
      await waitUntil(`redis-server on port ${port} to answer`, STARTUP_TIMEOUT_MS, answers, {
        intervalMs: STARTUP_POLL_MS,
      })
    } catch (error) {
      const log = this.logTail()
      await this.kill('SIGKILL').catch(noop)
      throw new RedisTimeoutError(
        `redis-server on port ${port} did not answer within ${STARTUP_TIMEOUT_MS} ms:\n${log}`,
        { cause: error },
      )
    }
    if (!answered) {
      const output = readFrom(logFile, logOffset) + readFrom(stdioFile, stdioOffset)
      if (/Address already in use/i.test(output)) {
        throw new PortInUseError(`Port ${port} (or its cluster bus port) is already in use`)
      }
      throw new RedisHarnessError(`redis-server on port ${port} exited during startup:\n${lastLines(output, 20)}`)
    }
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
  prepare()
  return RedisNode.launch(extraArgs, false)
}
