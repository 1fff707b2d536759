import { EventEmitter } from 'node:events'

import { ClosedError, InvalidArgumentError, TimeoutError } from '../core/errors'
import { invalidOption, knownOptions, nowOption, optionNames, wholeNumber } from '../core/validate'

/**
 * Where a rule reads its value: a function returning the current value (sync or async), or
 * undefined when there is no data (no traffic in the window, metric not registered). No data
 * never fires a rule and resolves a firing one, like an absent series in Prometheus.
 * {@link MetricSources} builds sources over a MetricsCollector's registry.
 */
export type AlertSource = () => number | undefined | Promise<number | undefined>

/** How a rule compares its value with its threshold. */
export type AlertComparison = '>' | '>=' | '<' | '<='

/** Severity carried by a rule into its events, logs and `/alerts`. */
export type AlertSeverity = 'info' | 'warning' | 'critical'

/** States of a rule, as in Prometheus: the condition holds for less than `forMs` (pending) or longer (firing). */
export type AlertState = 'inactive' | 'pending' | 'firing'

/** Every {@link AlertComparison}. */
export const ALERT_COMPARISONS: readonly AlertComparison[] = Object.freeze(['>', '>=', '<', '<='])
/** Every {@link AlertSeverity}. */
export const ALERT_SEVERITIES: readonly AlertSeverity[] = Object.freeze(['info', 'warning', 'critical'])

/** One threshold rule: fires when `source() op threshold` has held for `forMs`. */
export interface AlertRule {
  /** Unique name, shown in events, logs and `/alerts` (letters, digits, `_`, `:`, `.`, `-`). */
  name: string
  /** Reads the current value. */
  source: AlertSource
  /** The bound the value is compared with, in the source's unit. */
  threshold: number
  /** The comparison that makes the condition hold. @default '>' */
  op?: AlertComparison
  /** How long the condition must hold before the alert fires; 0 fires at the first evaluation. @default 0 */
  forMs?: number
  /** Carried into the rule's events, log lines and `/alerts`. @default 'warning' */
  severity?: AlertSeverity
  /** One line for humans, e.g. "p99 latency above 10 ms". @default `${name} ${op} ${threshold}` */
  summary?: string
  /** Unit of the value and threshold, for display (e.g. 'ms', 'bytes', 'ratio'). @default '' */
  unit?: string
  /** Extra labels carried along (team, runbook, ...). @default {} */
  labels?: Readonly<Record<string, string>>
}

/** A structured log line written for every transition and evaluation error. */
export interface AlertLogRecord {
  /** ISO time of the evaluation. */
  time: string
  level: 'info' | 'warn' | 'error'
  msg: string
  alert: string
  state: AlertState | 'resolved'
  severity: AlertSeverity
  value: number | null
  threshold: number
  op: AlertComparison
  /** The evaluation error's message, on `level: 'error'` lines. */
  error?: string
}

/** Options of {@link AlertManager}. */
export interface AlertManagerOptions {
  /** The rules to evaluate. */
  rules: readonly AlertRule[]
  /** Time between evaluations once started. @default 5000 */
  intervalMs?: number
  /** A source that has not answered after this long counts as an evaluation error. @default intervalMs */
  sourceTimeoutMs?: number
  /** How long resolved alerts stay listed. @default 900000 (15 min, as Prometheus resends them) */
  resolvedRetentionMs?: number
  /** At most this many resolved alerts are kept, the oldest dropped first. @default 100 */
  maxResolved?: number
  /** Milliseconds since the epoch; inject a fake for tests. @default Date.now */
  now?: () => number
  /** @deprecated Renamed `now`, as in every other component; accepted until the next major release. */
  clock?: () => number
  /**
   * Receives one record per transition; `false` logs nothing.
   * @default writes each record as one JSON line to stdout
   */
  log?: ((record: AlertLogRecord) => void) | false
}

/** Defaults of every optional {@link AlertManager} and {@link AlertRule} option. */
export const ALERT_DEFAULTS = Object.freeze({
  intervalMs: 5000,
  resolvedRetentionMs: 15 * 60_000,
  maxResolved: 100,
  op: '>' as AlertComparison,
  forMs: 0,
  severity: 'warning' as AlertSeverity,
})

// ALERT_DEFAULTS holds the rules' defaults too, so the names are listed here in full.
const MANAGER_NAMES = optionNames<AlertManagerOptions>()(
  {},
  {
    rules: true,
    intervalMs: true,
    sourceTimeoutMs: true,
    resolvedRetentionMs: true,
    maxResolved: true,
    now: true,
    clock: true,
    log: true,
  },
)
const RULE_NAMES = optionNames<AlertRule>()(
  {},
  {
    name: true,
    source: true,
    threshold: true,
    op: true,
    forMs: true,
    severity: true,
    summary: true,
    unit: true,
    labels: true,
  },
)

/** What `/alerts` and the events tell about a rule whose condition holds. */
export interface ActiveAlert {
  name: string
  state: 'pending' | 'firing'
  severity: AlertSeverity
  summary: string
  unit: string
  labels: Record<string, string>
  /** The value read at the last evaluation. */
  value: number | null
  threshold: number
  op: AlertComparison
  forMs: number
  /** ISO time the condition started holding. */
  since: string
  /** ISO time the alert fired; null while pending. */
  firingSince: string | null
}

/** A firing alert whose condition cleared. */
export interface ResolvedAlert extends Omit<ActiveAlert, 'state' | 'firingSince'> {
  state: 'resolved'
  firingSince: string
  /** ISO time the condition was seen clear. */
  resolvedAt: string
  /** The value furthest past the threshold while the condition held. */
  peak: number | null
}

/** State of one rule, for `/alerts`. */
export interface AlertRuleStatus {
  name: string
  state: AlertState
  severity: AlertSeverity
  summary: string
  unit: string
  value: number | null
  threshold: number
  op: AlertComparison
  forMs: number
  /** 'unknown' before the first evaluation; 'error' when the source failed the last one. */
  health: 'ok' | 'error' | 'unknown'
  lastError: string | null
  lastEvaluatedAt: string | null
}

/** Everything `GET /alerts` answers. */
export interface AlertsSnapshot {
  /** ISO time of the last evaluation; null before the first. */
  evaluatedAt: string | null
  intervalMs: number
  /** Pending and firing alerts, firing first. */
  active: ActiveAlert[]
  /** Recently resolved alerts, newest first. */
  resolved: ResolvedAlert[]
  rules: AlertRuleStatus[]
}

/** Events of {@link AlertManager}, emitted after an evaluation has updated every rule. */
export interface AlertManagerEvents {
  /** The condition started holding; the alert fires once it has held for `forMs`. */
  pending: [alert: ActiveAlert]
  /** The condition has held for `forMs`. */
  firing: [alert: ActiveAlert]
  /** A firing alert's condition cleared. */
  resolved: [alert: ResolvedAlert]
  /** A pending alert's condition cleared before it fired. */
  inactive: [alert: ActiveAlert]
  /** A source threw or timed out; the rule keeps its state. */
  evaluationError: [rule: string, error: Error]
}

interface RuleState {
  readonly rule: Required<Omit<AlertRule, 'labels'>> & { labels: Record<string, string> }
  state: AlertState
  value: number | null
  peak: number | null
  activeAt: number
  firedAt: number
  health: AlertRuleStatus['health']
  lastError: string | null
  lastEvaluatedAt: number | null
}

type Transition =
  | { event: 'pending' | 'firing' | 'inactive'; alert: ActiveAlert }
  | { event: 'resolved'; alert: ResolvedAlert }
  | { event: 'evaluationError'; rule: RuleState; error: Error }

const RULE_NAME = /^[A-Za-z_][A-Za-z0-9_:.-]{0,127}$/

function validateRule(rule: AlertRule, index: number): RuleState['rule'] {
  const where = `rules[${index}]`
  if (typeof rule !== 'object' || rule === null) throw new InvalidArgumentError(`${where}: expected an object`)
  knownOptions(where, rule, RULE_NAMES)
  if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
    throw new InvalidArgumentError(
      `${where}.name: expected 1-128 letters, digits, '_', ':', '.', '-' (not starting with a digit), got ${JSON.stringify(rule.name)}`,
    )
  }
  if (typeof rule.source !== 'function') {
    throw new InvalidArgumentError(`${where}.source: expected a function returning a number, got ${typeof rule.source}`)
  }
  if (typeof rule.threshold !== 'number' || !Number.isFinite(rule.threshold)) {
    throw new InvalidArgumentError(`${where}.threshold: expected a finite number, got ${String(rule.threshold)}`)
  }
  const op = rule.op ?? ALERT_DEFAULTS.op
  if (!ALERT_COMPARISONS.includes(op)) {
    throw new InvalidArgumentError(`${where}.op: expected one of ${ALERT_COMPARISONS.join(' ')}, got ${String(op)}`)
  }
  const severity = rule.severity ?? ALERT_DEFAULTS.severity
  if (!ALERT_SEVERITIES.includes(severity)) {
    throw new InvalidArgumentError(
      `${where}.severity: expected one of ${ALERT_SEVERITIES.join(', ')}, got ${String(severity)}`,
    )
  }
  const labels: Record<string, string> = {}
  for (const [name, value] of Object.entries(rule.labels ?? {})) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`${where}.labels.${name}: expected a string`)
    labels[name] = value
  }
  return {
    name: rule.name,
    source: rule.source,
    threshold: rule.threshold,
    op,
    forMs: wholeNumber(`${where}.forMs`, rule.forMs ?? ALERT_DEFAULTS.forMs, 0),
    severity,
    summary: typeof rule.summary === 'string' ? rule.summary : `${rule.name} ${op} ${rule.threshold}`,
    unit: typeof rule.unit === 'string' ? rule.unit : '',
    labels,
  }
}

function holds(value: number, op: AlertComparison, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold
    case '>=':
      return value >= threshold
    case '<':
      return value < threshold
    case '<=':
      return value <= threshold
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function defaultLog(record: AlertLogRecord): void {
  process.stdout.write(`${JSON.stringify(record)}\n`)
}

/**
 * Evaluates threshold rules periodically with Prometheus' alerting semantics: a rule whose
 * condition holds turns pending, fires once it has held for `forMs`, and resolves when it
 * clears (a pending one just turns inactive). Transitions are emitted as events and logged as
 * JSON lines; {@link AlertManager.snapshot} is what `GET /alerts` serves.
 *
 * Nothing runs until {@link AlertManager.start} (an unref'd timer, so it never keeps the
 * process alive); {@link AlertManager.evaluate} runs one evaluation now, which with an
 * injected `now` makes tests deterministic.
 *
 * @example
 * ```ts
 * const sources = new MetricSources(metrics)
 * const alerts = new AlertManager({
 *   rules: [{ name: 'LatencyP99High', source: sources.requestLatencyMs(0.99), threshold: 10, forMs: 30_000, unit: 'ms' }],
 * })
 * alerts.on('firing', (alert) => page(alert)).start()
 * ```
 */
export class AlertManager extends EventEmitter<AlertManagerEvents> {
  /** Time between evaluations once started. */
  readonly intervalMs: number
  private readonly rules: RuleState[]
  private readonly sourceTimeoutMs: number
  private readonly resolvedRetentionMs: number
  private readonly maxResolved: number
  private readonly clock: () => number
  private readonly log: ((record: AlertLogRecord) => void) | undefined
  private resolved: ResolvedAlert[] = []
  private evaluatedAt: number | null = null
  private inFlight: Promise<AlertsSnapshot> | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false

  /**
   * Checks the rules; evaluations begin with {@link start}.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option or a rule
   *   is missing, invalid or unknown, or two rules share a name; the message names it.
   */
  constructor(options: AlertManagerOptions) {
    super()
    if (typeof options !== 'object' || options === null || !Array.isArray(options.rules)) {
      throw new InvalidArgumentError('rules: expected an array of alert rules')
    }
    knownOptions('alert manager options', options, MANAGER_NAMES)
    this.intervalMs = wholeNumber('intervalMs', options.intervalMs ?? ALERT_DEFAULTS.intervalMs, 1)
    this.sourceTimeoutMs = wholeNumber('sourceTimeoutMs', options.sourceTimeoutMs ?? this.intervalMs, 1)
    this.resolvedRetentionMs = wholeNumber(
      'resolvedRetentionMs',
      options.resolvedRetentionMs ?? ALERT_DEFAULTS.resolvedRetentionMs,
      0,
    )
    this.maxResolved = wholeNumber('maxResolved', options.maxResolved ?? ALERT_DEFAULTS.maxResolved, 0)
    this.clock = nowOption(options, Date.now)
    if (options.log !== undefined && options.log !== false && typeof options.log !== 'function') {
      throw invalidOption('log', 'a function or false', typeof options.log)
    }
    this.log = options.log === false ? undefined : (options.log ?? defaultLog)
    const names = new Set<string>()
    this.rules = options.rules.map((raw, index) => {
      const rule = validateRule(raw, index)
      if (names.has(rule.name)) throw new InvalidArgumentError(`rules[${index}].name: "${rule.name}" is used twice`)
      names.add(rule.name)
      return {
        rule,
        state: 'inactive',
        value: null,
        peak: null,
        activeAt: 0,
        firedAt: 0,
        health: 'unknown',
        lastError: null,
        lastEvaluatedAt: null,
      }
    })
  }

  /** Starts evaluating every `intervalMs` (the first evaluation after one interval). Idempotent. */
  start(): this {
    if (this.closed) throw new ClosedError('the alert manager is closed')
    if (this.timer === undefined) {
      // Errors are already logged and emitted per rule; a throwing listener must not kill the timer.
      this.timer = setInterval(() => void this.evaluate().catch(() => undefined), this.intervalMs)
      this.timer.unref()
    }
    return this
  }

  /** Stops the periodic evaluation; {@link AlertManager.start} resumes it. */
  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Stops evaluating and waits for an evaluation in progress; later calls to `evaluate` reject. */
  async close(): Promise<void> {
    this.stop()
    this.closed = true
    await this.inFlight?.catch(() => undefined)
  }

  /**
   * Evaluates every rule now and resolves with the resulting snapshot. A call while an
   * evaluation runs shares it, so evaluations never overlap.
   */
  evaluate(): Promise<AlertsSnapshot> {
    if (this.closed) return Promise.reject(new ClosedError('the alert manager is closed'))
    this.inFlight ??= this.runEvaluation().finally(() => (this.inFlight = undefined))
    return this.inFlight
  }

  /** Active alerts, recently resolved ones and every rule's state, as of the last evaluation. */
  snapshot(): AlertsSnapshot {
    this.pruneResolved(this.clock())
    const active = this.rules
      .filter((entry) => entry.state !== 'inactive')
      .map((entry) => this.activeAlert(entry))
      .sort((a, b) => (a.state === b.state ? a.since.localeCompare(b.since) : a.state === 'firing' ? -1 : 1))
    return {
      evaluatedAt: this.evaluatedAt === null ? null : iso(this.evaluatedAt),
      intervalMs: this.intervalMs,
      active,
      resolved: [...this.resolved],
      rules: this.rules.map(({ rule, state, value, health, lastError, lastEvaluatedAt }) => ({
        name: rule.name,
        state,
        severity: rule.severity,
        summary: rule.summary,
        unit: rule.unit,
        value,
        threshold: rule.threshold,
        op: rule.op,
        forMs: rule.forMs,
        health,
        lastError,
        lastEvaluatedAt: lastEvaluatedAt === null ? null : iso(lastEvaluatedAt),
      })),
    }
  }

  private async runEvaluation(): Promise<AlertsSnapshot> {
    const now = this.clock()
    const results = await Promise.all(this.rules.map((entry) => this.read(entry.rule.source)))
    const transitions: Transition[] = []
    this.rules.forEach((entry, index) => {
      const result = results[index]
      entry.lastEvaluatedAt = now
      if (result === undefined || 'error' in result) {
        entry.health = 'error'
        entry.lastError = result?.error.message ?? 'no result'
        transitions.push({ event: 'evaluationError', rule: entry, error: result?.error ?? new Error('no result') })
        return
      }
      entry.health = 'ok'
      entry.lastError = null
      this.step(entry, result.value, now, transitions)
    })
    this.evaluatedAt = now
    this.pruneResolved(now)
    // Listeners run after every rule is updated, so a throwing one cannot leave rules
    // half-evaluated nor hide the other transitions; the first such error rejects evaluate().
    const listenerErrors: unknown[] = []
    for (const transition of transitions) {
      try {
        this.announce(transition, now)
      } catch (err) {
        listenerErrors.push(err)
      }
    }
    if (listenerErrors.length > 0) throw listenerErrors[0]
    return this.snapshot()
  }

  private async read(source: AlertSource): Promise<{ value: number | undefined } | { error: Error }> {
    let timer: NodeJS.Timeout | undefined
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`the source did not answer within ${this.sourceTimeoutMs} ms`)),
          this.sourceTimeoutMs,
        )
        timer.unref()
      })
      const value = await Promise.race([Promise.resolve().then(source), timeout])
      if (value !== undefined && typeof value !== 'number') {
        return { error: new InvalidArgumentError(`the source returned ${typeof value}, expected a number`) }
      }
      return { value: value === undefined || Number.isNaN(value) ? undefined : value }
    } catch (err) {
      return { error: err instanceof Error ? err : new Error(String(err)) }
    } finally {
      clearTimeout(timer)
    }
  }

  /** Moves one rule through inactive → pending → firing → resolved for the value just read. */
  private step(entry: RuleState, value: number | undefined, now: number, transitions: Transition[]): void {
    const { rule } = entry
    entry.value = value ?? null
    const active = value !== undefined && holds(value, rule.op, rule.threshold)
    if (active) {
      const further = rule.op.startsWith('>') ? Math.max : Math.min
      entry.peak = entry.state === 'inactive' || entry.peak === null ? value : further(entry.peak, value)
      if (entry.state === 'inactive') {
        entry.state = 'pending'
        entry.activeAt = now
        transitions.push({ event: 'pending', alert: this.activeAlert(entry) })
      }
      if (entry.state === 'pending' && now - entry.activeAt >= rule.forMs) {
        entry.state = 'firing'
        entry.firedAt = now
        transitions.push({ event: 'firing', alert: this.activeAlert(entry) })
      }
      return
    }
    if (entry.state === 'pending') {
      transitions.push({ event: 'inactive', alert: this.activeAlert(entry) })
    } else if (entry.state === 'firing') {
      const { state: _state, firingSince: _firingSince, ...rest } = this.activeAlert(entry)
      const resolved: ResolvedAlert = {
        ...rest,
        state: 'resolved',
        firingSince: iso(entry.firedAt),
        resolvedAt: iso(now),
        peak: entry.peak,
      }
      this.resolved.unshift(resolved)
      if (this.resolved.length > this.maxResolved) this.resolved.length = this.maxResolved
      transitions.push({ event: 'resolved', alert: resolved })
    }
    entry.state = 'inactive'
    entry.peak = null
  }

  private activeAlert(entry: RuleState): ActiveAlert {
    const { rule } = entry
    return {
      name: rule.name,
      state: entry.state === 'firing' ? 'firing' : 'pending',
      severity: rule.severity,
      summary: rule.summary,
      unit: rule.unit,
      labels: { ...rule.labels },
      value: entry.value,
      threshold: rule.threshold,
      op: rule.op,
      forMs: rule.forMs,
      since: iso(entry.activeAt),
      firingSince: entry.state === 'firing' ? iso(entry.firedAt) : null,
    }
  }

  private pruneResolved(now: number): void {
    const oldest = now - this.resolvedRetentionMs
    this.resolved = this.resolved.filter((alert) => Date.parse(alert.resolvedAt) >= oldest)
  }

  private announce(transition: Transition, now: number): void {
    if (transition.event === 'evaluationError') {
      const { rule, lastError, value } = transition.rule
      this.write({
        time: iso(now),
        level: 'error',
        msg: 'alert rule evaluation failed',
        alert: rule.name,
        state: transition.rule.state,
        severity: rule.severity,
        value,
        threshold: rule.threshold,
        op: rule.op,
        error: lastError ?? transition.error.message,
      })
      this.emit('evaluationError', rule.name, transition.error)
      return
    }
    const { alert } = transition
    const messages = {
      pending: 'alert pending',
      firing: 'alert firing',
      inactive: 'alert cleared before firing',
      resolved: 'alert resolved',
    }
    this.write({
      time: iso(now),
      level: transition.event === 'firing' ? (alert.severity === 'critical' ? 'error' : 'warn') : 'info',
      msg: messages[transition.event],
      alert: alert.name,
      state: transition.event,
      severity: alert.severity,
      value: alert.value,
      threshold: alert.threshold,
      op: alert.op,
    })
    if (transition.event === 'resolved') this.emit('resolved', transition.alert)
    else this.emit(transition.event, transition.alert)
  }

  private write(record: AlertLogRecord): void {
    try {
      this.log?.(record)
    } catch {
      // A broken logger must not stop alerting.
    }
  }
}
