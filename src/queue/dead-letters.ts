import type { DeadLetter, TaskSpec } from './types'

/** A dead letter with what requeueing needs (the spec, `run` included). @internal */
export interface DeadEntry {
  letter: DeadLetter
  spec: TaskSpec
}

/**
 * Tasks that exhausted their retries, by id, oldest first. Bounded: past `capacity` the
 * oldest is evicted and handed back, so the caller can report it (nothing leaves silently).
 * @internal
 */
export class DeadLetterStore {
  private readonly entries = new Map<string, DeadEntry>()

  constructor(private readonly capacity: number) {}

  /** Stores `entry`; returns the entry evicted to make room, if any. */
  add(entry: DeadEntry): DeadEntry | undefined {
    this.entries.delete(entry.letter.id)
    this.entries.set(entry.letter.id, entry)
    if (this.entries.size <= this.capacity) return undefined
    const [oldestId, oldest] = this.entries.entries().next().value as [string, DeadEntry]
    this.entries.delete(oldestId)
    return oldest
  }

  get(id: string): DeadEntry | undefined {
    return this.entries.get(id)
  }

  take(id: string): DeadEntry | undefined {
    const entry = this.entries.get(id)
    this.entries.delete(id)
    return entry
  }

  list(): DeadLetter[] {
    return Array.from(this.entries.values(), (entry) => ({ ...entry.letter }))
  }

  /** Removes the given ids (every letter when absent); returns how many went. */
  purge(ids?: readonly string[]): number {
    if (ids === undefined) {
      const count = this.entries.size
      this.entries.clear()
      return count
    }
    let count = 0
    for (const id of ids) if (this.entries.delete(id)) count++
    return count
  }

  get size(): number {
    return this.entries.size
  }
}
