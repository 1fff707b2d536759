import { UnavailableError } from '../core/errors'

/**
 * A change of one key as it goes to Redis: its record (undefined: a deletion) and when it
 * expires there (epoch ms, 0: never).
 */
export interface RedisChange {
  record: Buffer | undefined
  expiresAt: number
}

/** A change of one key made while Redis was away, waiting to be replayed. */
interface JournalEntry extends RedisChange {
  /** The write that made it (see `writeSequence`). */
  sequence: number
}

/** Why a value is written: a caller's write (durable or not), or a loader's value. */
export type WriteKind = 'write' | 'durable' | 'load'

/** What an {@link OutageJournal} needs of its cache. @internal */
export interface JournalHost {
  /** Whether the cache is closed: nothing is replayed then. */
  isClosed(): boolean
  /** Whether Redis is known to be away for `key`: a change of it would not be attempted. */
  unreachable(key: string): boolean
  /** Whether an outage is known: a replay then waits for its end. */
  redisDown(): boolean
  /** Whether every Redis connection is ready. */
  connected(): boolean
  /** Makes Redis hold `change` and announces it; `true` once done, `undefined` if Redis failed or is away. */
  apply(key: string, change: RedisChange): Promise<true | undefined>
  /** Drops the local copy of `key` made for a change that could not reach Redis. */
  dropLocal(key: string): void
  /**
   * The `UnavailableError` of a change Redis could not take; `skipped` when it was not
   * attempted because Redis is away (then counted as a failed Redis call).
   */
  unavailableError(skipped: boolean): UnavailableError
}

/** The options of an {@link OutageJournal}. @internal */
export interface JournalOptions {
  /** The cache's name, in messages. */
  name: string
  /** Keys the journal holds at most (`outageJournal.maxKeys`). */
  maxKeys: number
  /** How often a replay is retried while changes wait (`outageJournal.retryMs`). */
  retryMs: number
  logger: { warn(message: string): void }
}

/**
 * The changes made while Redis was away: every change to Redis goes through {@link OutageJournal.send},
 * which keeps the latest change of a key Redis could not take (bounded by `maxKeys`) for
 * replay when Redis returns. Until a key's replay lands, reads of it are answered from its
 * entry. Changes are numbered so that an older write's outcome cannot undo a newer one's.
 * @internal
 */
export class OutageJournal {
  /** Changes replayed to Redis after an outage. */
  replayed = 0
  /** Writes and deletes refused with `UnavailableError` because the journal was full. */
  rejected = 0
  /** Loaded values cached only locally (journal full), and changes still pending at `close`. */
  dropped = 0
  /** The latest change of every key made while Redis was away, oldest first. */
  private readonly entries = new Map<string, JournalEntry>()
  private replaying = false
  /** Retries the replay while the journal holds changes (see `outageJournal.retryMs`). */
  private retryTimer: NodeJS.Timeout | undefined
  /** Numbers every write to Redis, so that an older write's outcome cannot undo a newer one's. */
  private writeSequence = 0
  /** The number of the latest write of every key with a write in flight. */
  private readonly latestWrite = new Map<string, number>()

  constructor(
    private readonly o: JournalOptions,
    private readonly host: JournalHost,
  ) {}

  /** Keys waiting to be replayed. */
  get size(): number {
    return this.entries.size
  }

  /** The change of `key` not replayed yet, if any: Redis still holds the older value. */
  get(key: string): RedisChange | undefined {
    return this.entries.get(key)
  }

  /**
   * Forgets the change of `key`: another instance's change reached Redis after ours failed
   * to, and replaying ours would bring back an older value.
   */
  supersede(key: string): void {
    this.entries.delete(key)
  }

  /**
   * During a known outage, rejects before any tier changes a write that could not reach
   * Redis: a durable one, or one the full journal has no room for.
   */
  refuseIfUnjournaled(key: string, kind: WriteKind): void {
    if (!this.host.unreachable(key)) return
    if (kind === 'durable') throw this.host.unavailableError(true)
    if (kind === 'write' && !this.hasRoom(key)) {
      this.rejected++
      throw this.fullError()
    }
  }

  /**
   * Sends `change` and settles its journal entry: a change Redis could not take is
   * journaled, or, for a durable write or when the journal is full, its local copy dropped.
   * Resolves to the error for the caller, if any.
   */
  async send(key: string, change: RedisChange, kind: WriteKind): Promise<UnavailableError | undefined> {
    const sequence = ++this.writeSequence
    this.latestWrite.set(key, sequence)
    const landed = (await this.host.apply(key, change)) === true
    const latest = this.latestWrite.get(key) === sequence
    if (latest) this.latestWrite.delete(key)
    if (landed) {
      const pending = this.entries.get(key)
      if (pending !== undefined && pending.sequence < sequence) this.entries.delete(key)
      return undefined
    }
    // A newer change of the key was made meanwhile: its outcome decides what Redis must get.
    if (!latest) return kind === 'durable' ? this.host.unavailableError(false) : undefined
    if (kind !== 'durable' && this.hasRoom(key)) {
      this.entries.delete(key) // re-added as the newest
      this.entries.set(key, { ...change, sequence })
      this.retryTimer ??= setInterval(() => this.retry(), this.o.retryMs).unref()
      return undefined
    }
    if (kind === 'load') {
      this.dropped++
      return undefined
    }
    this.host.dropLocal(key)
    if (kind === 'durable') return this.host.unavailableError(false)
    this.rejected++
    return this.fullError()
  }

  /**
   * Replays the journal: the latest change of every key made while Redis was away. Until a
   * key's replay lands, reads of it are answered from its entry, never from the older value
   * Redis still holds. What fails stays for the next recovery. Never rejects.
   */
  async replay(): Promise<void> {
    if (this.replaying || this.entries.size === 0 || this.host.isClosed()) return
    this.replaying = true
    let replayed = 0
    try {
      // Issued together, before any later write of the same key: one connection per key
      // keeps them in order, so a newer write is never overwritten by its replay.
      await Promise.all(
        [...this.entries].map(async ([key, entry]) => {
          const landed = (await this.host.apply(key, entry)) === true
          // Unless a newer change of the key replaced the entry meanwhile.
          if (landed && this.entries.get(key) === entry) {
            this.entries.delete(key)
            replayed++
          }
        }),
      )
    } finally {
      this.replaying = false
    }
    this.replayed += replayed
    const left = this.entries.size
    if (left === 0) this.stopRetry()
    if (replayed > 0) {
      this.o.logger.warn(
        `optlayer cache '${this.o.name}': replayed ${replayed} changes made while Redis was away` +
          (left > 0 ? `; ${left} left for the next attempt` : ''),
      )
    }
    // Redis came back again while this replay ran (its own recovery found it busy).
    if (left > 0 && !this.host.redisDown() && !this.host.isClosed()) setImmediate(() => void this.replay())
  }

  /**
   * Forgets every pending change: the cache was cleared, and replaying a change made before
   * the clear would bring its value back. Counted in `dropped`.
   */
  discardAll(): void {
    this.dropped += this.entries.size
    this.entries.clear()
  }

  /** Stops retrying and drops the changes not replayed (counted and logged): the cache is closing. */
  close(): void {
    this.stopRetry()
    if (this.entries.size === 0) return
    this.o.logger.warn(
      `optlayer cache '${this.o.name}': closed with ${this.entries.size} changes made while Redis was away not replayed`,
    )
    this.discardAll()
  }

  /**
   * Replays the journal if every client is connected: a reconnection ends the outage by
   * itself, but a Cluster failing a master over stays connected while calls to its slots fail.
   */
  private retry(): void {
    if (this.entries.size === 0 || this.host.isClosed()) return this.stopRetry()
    if (this.host.connected()) void this.replay()
  }

  private stopRetry(): void {
    clearInterval(this.retryTimer)
    this.retryTimer = undefined
  }

  private hasRoom(key: string): boolean {
    return this.entries.has(key) || this.entries.size < this.o.maxKeys
  }

  private fullError(): UnavailableError {
    return new UnavailableError(
      `cache '${this.o.name}': Redis is unavailable and the outage journal is full (outageJournal.maxKeys: ${this.o.maxKeys})`,
    )
  }
}
