/**
 * The processes a scenario starts, kills and restarts: the gateway (`optlayer serve` from the built package) and the
 * chaos backends. Each runs as a real child process so SIGKILL, SIGSTOP and graceful shutdown are the real thing, and
 * its resident memory is read from /proc (the suite is Linux-only, like its loopback faults).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'

const ROOT = path.resolve(__dirname, '..')
const START_TIMEOUT_MS = 20_000

/** A child process whose output is kept (the last lines, for failures) and matched line by line. */
class Child {
  private readonly lines: string[] = []
  private readonly waiters: { pattern: RegExp; resolve(match: RegExpExecArray): void }[] = []
  readonly exited: Promise<number | null>

  constructor(
    readonly label: string,
    readonly process: ChildProcess,
  ) {
    for (const stream of [process.stdout, process.stderr]) {
      let partial = ''
      stream?.setEncoding('utf8')
      stream?.on('data', (text: string) => {
        const parts = (partial + text).split('\n')
        partial = parts.pop() ?? ''
        for (const line of parts) this.line(line)
      })
    }
    this.exited = new Promise((resolve) =>
      process.once('exit', (code, signal) => resolve(signal === null ? code : null)),
    )
  }

  get pid(): number {
    return this.process.pid ?? 0
  }

  /** Resolves with the first output line (past or future) that matches `pattern`; rejects if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs = START_TIMEOUT_MS): Promise<RegExpExecArray> {
    for (const line of this.lines) {
      const match = pattern.exec(line)
      if (match !== null) return Promise.resolve(match)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.label}: no line matching ${pattern}\n${this.tail()}`)),
        timeoutMs,
      )
      this.waiters.push({
        pattern,
        resolve: (match) => {
          clearTimeout(timer)
          resolve(match)
        },
      })
      void this.exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`${this.label} exited (${code}) before printing ${pattern}\n${this.tail()}`))
      })
    })
  }

  /** Resident memory in bytes, 0 once the process is gone. */
  rss(): number {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
      const kb = /VmRSS:\s+(\d+)/.exec(status)
      return kb === null ? 0 : Number(kb[1]) * 1024
    } catch {
      return 0
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code (null: by signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return this.process.exitCode
    this.process.kill(signal)
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }

  /** Every output line so far that matches `pattern`, matched. */
  matches(pattern: RegExp): RegExpExecArray[] {
    return this.lines.flatMap((line) => {
      const match = pattern.exec(line)
      return match === null ? [] : [match]
    })
  }

  /** The last output lines, for a failure's message. */
  tail(count = 15): string {
    return this.lines.slice(-count).join('\n')
  }

  private line(line: string): void {
    this.lines.push(line)
    if (this.lines.length > 500) this.lines.splice(0, 250)
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]
      const match = waiter?.pattern.exec(line)
      if (waiter !== undefined && match !== null && match !== undefined) {
        this.waiters.splice(i, 1)
        waiter.resolve(match)
      }
    }
  }
}

/** Sum of the samples of series named `name` whose labels include every fragment of `labels`. */
export function sumSeries(samples: Map<string, number>, name: string, ...labels: string[]): number {
  let total = 0
  for (const [series, value] of samples) {
    if (series.startsWith(`${name}{`) && labels.every((label) => series.includes(label))) total += value
  }
  return total
}

/** `optlayer serve` from the built package on a free loopback port, configured by `env` alone (as a user runs it). */
export class GatewayProcess extends Child {
  private constructor(
    child: ChildProcess,
    /** `http://127.0.0.1:<port>`: the proxy. */
    public origin: string,
    /** Where `/metrics` and the other admin routes are served. */
    public adminOrigin: string,
  ) {
    super('gateway', child)
  }

  /** Starts the gateway and resolves once it listens. */
  static async start(env: Record<string, string>): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'serve'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', DEMO: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const gateway = new GatewayProcess(child, '', '')
    gateway.origin = (await gateway.waitForLine(/listening on (http:\/\/\S+)/))[1] ?? ''
    gateway.adminOrigin = (await gateway.waitForLine(/admin routes on (http:\/\/\S+)/))[1] ?? ''
    return gateway
  }

  /** The gateway's Prometheus exposition, as samples by series (`name{labels}` → value). */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`${this.adminOrigin}/metrics`)).text()
    const samples = new Map<string, number>()
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line.length === 0) continue
      const space = line.lastIndexOf(' ')
      samples.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
    return samples
  }
}

/** A chaos backend (`backend.ts`), killed and restarted on the port it first took. */
export class BackendProcess {
  private child: Child | undefined
  private constructor(
    private readonly env: Record<string, string>,
    public port: number,
  ) {}

  /** Starts a backend on a free port. */
  static async start(env: Record<string, string> = {}): Promise<BackendProcess> {
    const backend = new BackendProcess(env, 0)
    await backend.restart()
    return backend
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Starts the process again (on the same port once it has one); resolves once it listens. */
  async restart(): Promise<void> {
    const child = spawn(process.execPath, ['--import=tsx', path.join(__dirname, 'backend.ts'), String(this.port)], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = new Child(`backend :${this.port}`, child)
    const match = await this.child.waitForLine(/^listening (\d+)$/)
    this.port = Number(match[1])
  }

  /** SIGKILLs the process (a crash: open connections are reset, answers in flight are lost). */
  async kill(): Promise<void> {
    await this.child?.stop('SIGKILL')
  }

  /** How many requests the running process answered. */
  async served(): Promise<number> {
    const res = await fetch(`${this.url}/__served`)
    return ((await res.json()) as { served: number }).served
  }

  /** Stops the process for good. */
  async close(): Promise<void> {
    await this.child?.stop('SIGTERM', 2_000)
  }
}

/** A window of the latency probe (`probe.ts`): its requests by outcome and the served ones' percentiles, ms. */
export interface ProbeWindow {
  ok: number
  shed: number
  failed: number
  p50: number
  p99: number
}

/** The latency probe (`probe.ts`): one caller, in a process of its own, reporting by window. */
export class ProbeProcess extends Child {
  private windows = 0

  /** Starts probing `GET <target>` on `origin` at once. */
  static async start(origin: string, target: string): Promise<ProbeProcess> {
    const child = spawn(process.execPath, ['--import=tsx', path.join(__dirname, 'probe.ts'), origin, target], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const probe = new ProbeProcess('probe', child)
    await probe.waitForLine(/^probing$/)
    return probe
  }

  /** Ends the current window (the first began at start) and starts the next; resolves with the one ended. */
  async window(): Promise<ProbeWindow> {
    const n = ++this.windows
    this.process.stdin?.write('report\n')
    const [, figures] = await this.waitForLine(new RegExp(`^report ${n} (.*)$`))
    return JSON.parse(figures ?? '') as ProbeWindow
  }

  /** Stops probing and waits for the process to end. */
  async close(): Promise<void> {
    this.process.stdin?.end()
    await this.stop('SIGTERM', 5_000)
  }
}
