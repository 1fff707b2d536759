import type { Task } from './task'

/**
 * The tasks of a queue by id: live ones, and finished ones until about `keepFinished` newer
 * tasks have come (at least that many).
 *
 * Why not a `Map` of every task: a Map churned by a set and a delete per task cost ~1.5 µs a
 * task once the process held a large heap (measured with 2M live objects around: 2.6 µs a
 * task against 0.9 µs with this ring). Every task gets a number; its slot in a ring indexed
 * by that number holds it until a later task needs the slot, so retention costs no work at
 * all, and a generated id is that number, found again without hashing. Only caller-chosen
 * ids go through a Map.
 * @internal
 */
export class TaskRegistry {
  private ring: (Task | undefined)[]
  private mask: number
  private next = 0
  /** Tasks with a caller-chosen id. */
  private readonly named = new Map<string, Task>()

  constructor(private readonly keepFinished: number) {
    let size = 1024
    while (size < 2 * keepFinished) size *= 2
    this.ring = new Array<Task | undefined>(size).fill(undefined)
    this.mask = size - 1
  }

  /** The number of the next task. */
  nextNumber(): number {
    return this.next++
  }

  /** Whether `id` names a caller-chosen task (a generated id must not shadow it). */
  hasNamed(id: string): boolean {
    return this.named.size > 0 && this.named.has(id)
  }

  get(id: string): Task | undefined {
    if (this.named.size > 0) {
      const task = this.named.get(id)
      if (task !== undefined) return task
    }
    const n = Number(id)
    if (!Number.isInteger(n) || n < 0) return undefined
    const task = this.ring[n & this.mask]
    return task !== undefined && task.num === n && task.id === id ? task : undefined
  }

  /** Holds `task`, evicting the finished task in its slot (or growing past a live one). */
  add(task: Task, named: boolean): void {
    let old = this.ring[task.num & this.mask]
    while (old !== undefined && !old.done) {
      this.grow()
      old = this.ring[task.num & this.mask]
    }
    if (old !== undefined) this.evict(old)
    this.ring[task.num & this.mask] = task
    if (named) this.named.set(task.id, task)
  }

  /** A finished task: forgotten at once when nothing finished is kept. */
  finished(task: Task): void {
    if (this.keepFinished > 0) return
    if (this.ring[task.num & this.mask] === task) this.ring[task.num & this.mask] = undefined
    this.evict(task)
  }

  /** Every task held, live or finished. */
  *values(): IterableIterator<Task> {
    for (const task of this.ring) if (task !== undefined) yield task
  }

  private evict(task: Task): void {
    if (this.named.get(task.id) === task) this.named.delete(task.id)
  }

  /** Doubles the ring: tasks in distinct slots stay in distinct slots. */
  private grow(): void {
    const old = this.ring
    this.ring = new Array<Task | undefined>(old.length * 2).fill(undefined)
    this.mask = this.ring.length - 1
    for (const task of old) if (task !== undefined) this.ring[task.num & this.mask] = task
  }
}
