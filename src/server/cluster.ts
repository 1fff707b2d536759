import cluster, { type Address, type Worker } from 'node:cluster'

import { InvalidArgumentError } from '../core/errors'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'
import {
  FLEET_DEFAULTS,
  FLEET_AGGREGATOR_OPTION_NAMES,
  FleetAggregator,
  isFleetMessage,
  type FleetAggregateMessage,
  type FleetAggregatorOptions,
  type FleetOptions,
  type FleetSnapshotMessage,
} from '../monitoring/fleet'

/** Options of {@link ClusterPrimary}. */
export interface ClusterPrimaryOptions {
  /** Gateway workers to run (`WORKERS`), at least 1. */
  workers: number
  /** How the fleet's metrics are pushed and aggregated. @default FLEET_DEFAULTS and the collector's defaults */
  fleet?: FleetOptions & Omit<FleetAggregatorOptions, 'now' | 'clock'>
  /**
   * On close, how long workers may take to finish their in-flight requests after SIGTERM
   * before they are killed, in milliseconds.
   * @default 10_000
   */
  shutdownTimeoutMs?: number
  /** Where progress lines go. @default console.log */
  log?: (line: string) => void
}

/** Defaults of {@link ClusterPrimaryOptions}. */
export const CLUSTER_DEFAULTS = Object.freeze({ shutdownTimeoutMs: 10_000 })

const CLUSTER_NAMES = optionNames<ClusterPrimaryOptions>()(CLUSTER_DEFAULTS, { workers: true, fleet: true, log: true })
// The fleet's clock is the primary's own.
const FLEET_NAMES = [...Object.keys(FLEET_DEFAULTS), ...FLEET_AGGREGATOR_OPTION_NAMES].filter(
  (name) => name !== 'now' && name !== 'clock',
)

/** Workers that die more often than this within {@link CRASH_WINDOW_MS} make the primary give up. */
const CRASHES_TOLERATED = 5
const CRASH_WINDOW_MS = 60_000
/** Backoff before replacing a crashed worker: doubles with each recent crash, up to the cap. */
const RESPAWN_BASE_MS = 100
const RESPAWN_MAX_MS = 10_000

/**
 * The primary of `optlayer serve` with `WORKERS` > 1: forks the gateway workers (node:cluster,
 * sharing the port), replaces those that crash, aggregates their metrics into one fleet
 * exposition that every worker serves on `/metrics` (see `src/monitoring/fleet.ts`), and on
 * {@link ClusterPrimary.close} stops them gracefully.
 *
 * The workers run the same script with the same arguments (`process.argv`), so the entry
 * point must start a worker when `cluster.isWorker`.
 */
export class ClusterPrimary {
  /** Resolves with the address once every worker has listened; rejects if the fleet could not start. */
  readonly listening: Promise<Address>
  /** Resolves with the exit code once the primary has stopped (after {@link ClusterPrimary.close}, or on giving up). */
  readonly stopped: Promise<number>
  private readonly aggregator: FleetAggregator
  private readonly log: (line: string) => void
  private readonly shutdownTimeoutMs: number
  private readonly intervalMs: number
  private readonly everListened = new Set<number>()
  private readonly crashes: number[] = []
  private readonly timer: NodeJS.Timeout
  private rendering = false
  private closing: Promise<number> | undefined
  private failures = 0
  private resolveListening!: (address: Address) => void
  private rejectListening!: (error: Error) => void
  private resolveStopped!: (code: number) => void

  constructor(private readonly options: ClusterPrimaryOptions) {
    if (!cluster.isPrimary) throw new InvalidArgumentError('ClusterPrimary: expected to run in the primary process')
    knownOptions('cluster options', options, CLUSTER_NAMES)
    knownOptions('fleet', options.fleet, FLEET_NAMES)
    wholeNumber('workers', options.workers, 1)
    this.log = options.log ?? ((line) => console.log(line))
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? CLUSTER_DEFAULTS.shutdownTimeoutMs
    this.intervalMs = options.fleet?.intervalMs ?? FLEET_DEFAULTS.intervalMs
    const { intervalMs: _interval, ...aggregator } = options.fleet ?? {}
    this.aggregator = new FleetAggregator(aggregator)
    this.listening = new Promise((resolve, reject) => {
      this.resolveListening = resolve
      this.rejectListening = reject
    })
    // Callers that only await `stopped` must not see an unhandled rejection.
    this.listening.catch(() => {})
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve))

    // Structured clone over IPC: the serialized histograms travel as bytes, not JSON arrays.
    cluster.setupPrimary({ serialization: 'advanced' })
    cluster.on('message', this.onMessage)
    cluster.on('listening', this.onListening)
    cluster.on('exit', this.onExit)
    for (let i = 0; i < options.workers; i++) cluster.fork()
    this.timer = setInterval(() => void this.broadcast(), this.intervalMs)
  }

  /**
   * Stops the fleet: SIGTERM to every worker (each finishes its in-flight requests), SIGKILL
   * to those still running after `shutdownTimeoutMs`. Resolves with 0 when every worker
   * stopped cleanly, 1 otherwise. Idempotent.
   */
  close(): Promise<number> {
    this.closing ??= this.shutDown(0)
    return this.closing
  }

  private readonly onMessage = (worker: Worker, message: unknown): void => {
    if (isFleetMessage<FleetSnapshotMessage>(message, 'optlayer:metrics:snapshot')) {
      this.aggregator.update(String(worker.id), message)
    }
  }

  private readonly onListening = (worker: Worker, address: Address): void => {
    this.everListened.add(worker.id)
    // Replacements of workers that died early count too; resolving twice is a no-op.
    if (this.everListened.size >= this.options.workers) this.resolveListening(address)
  }

  private readonly onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    this.aggregator.retire(String(worker.id))
    if (this.closing !== undefined) return
    const how = signal === null ? `code ${String(code)}` : `signal ${signal}`
    if (!this.everListened.has(worker.id) && this.everListened.size === 0) {
      // The first workers cannot even start (port taken, bad configuration): retrying won't help.
      this.log(`optlayer: worker ${worker.id} exited with ${how} before listening; stopping`)
      this.rejectListening(new Error(`worker ${worker.id} exited with ${how} before listening`))
      this.closing = this.shutDown(1)
      return
    }
    const now = Date.now()
    this.crashes.push(now)
    while ((this.crashes[0] ?? now) <= now - CRASH_WINDOW_MS) this.crashes.shift()
    if (this.crashes.length > CRASHES_TOLERATED * this.options.workers) {
      this.log(`optlayer: ${this.crashes.length} worker exits within ${CRASH_WINDOW_MS / 1000} s; giving up`)
      this.closing = this.shutDown(1)
      return
    }
    const delay = Math.min(RESPAWN_MAX_MS, RESPAWN_BASE_MS * 2 ** (this.crashes.length - 1))
    this.log(`optlayer: worker ${worker.id} exited with ${how}; replacing it in ${delay} ms`)
    setTimeout(() => {
      // A shutdown may have begun meanwhile (a terminal's Ctrl-C reaches the workers first).
      if (this.closing === undefined) cluster.fork()
    }, delay).unref()
  }

  /** Renders the aggregate and hands it to every connected worker; skipped while the previous render runs. */
  private async broadcast(): Promise<void> {
    if (this.rendering || this.aggregator.workers === 0) return
    this.rendering = true
    try {
      const message: FleetAggregateMessage = {
        type: 'optlayer:metrics:aggregate',
        at: Date.now(),
        text: await this.aggregator.render(),
      }
      for (const worker of Object.values(cluster.workers ?? {})) {
        // Delivery errors (a worker exiting) arrive in the callback; the next broadcast goes on.
        if (worker?.isConnected()) worker.send(message, undefined, () => {})
      }
    } catch (err) {
      this.failures++
      if (this.failures === 1 || this.failures % 60 === 0)
        this.log(`optlayer: fleet metrics render failed: ${String(err)}`)
    } finally {
      this.rendering = false
    }
  }

  private async shutDown(code: number): Promise<number> {
    clearInterval(this.timer)
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    let clean = code === 0
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve()
            const kill = setTimeout(() => {
              clean = false
              worker.process.kill('SIGKILL')
            }, this.shutdownTimeoutMs)
            worker.once('exit', (exitCode: number | null, signal: string | null) => {
              clearTimeout(kill)
              if (exitCode !== 0 && signal !== 'SIGTERM') clean = false
              resolve()
            })
            // SIGTERM, not worker.kill(): the worker runs its own graceful close (in-flight requests finish).
            worker.process.kill('SIGTERM')
          }),
      ),
    )
    cluster.off('message', this.onMessage)
    cluster.off('listening', this.onListening)
    cluster.off('exit', this.onExit)
    this.aggregator.close()
    const exitCode = clean ? 0 : 1
    this.resolveStopped(exitCode)
    return exitCode
  }
}
