import { fromNativeError } from '../core/errors'
import { native } from '../core/native'
import type { Task } from './task'

/** Tasks staged for the native queue before they are handed over in one call. */
const STAGED = 256

/**
 * The order in which a {@link TaskQueue}'s pending tasks start: the native priority queue
 * (weighted levels, so none starves) driven with numbers only. Each task sits in a slot of
 * `slots` and the native queue holds slot numbers; pushes are staged in a reused array and
 * handed over in one call, because a native call per task (~80 ns here) was a tenth of a
 * task's cost. A cancelled task stays as a tombstone until it is popped.
 * @internal
 */
export class NativeSchedule {
  private readonly queue: InstanceType<typeof native.NativePriorityQueue>
  private readonly push: (id: number, level: number) => boolean
  private readonly pop: () => number
  /** Queued tasks by native slot. */
  private readonly slots: (Task | undefined)[] = []
  private readonly freeSlots: number[] = []
  /** Slot and level of each staged task (see `add`). */
  private readonly staged = new Float64Array(2 * STAGED)
  private stagedCount = 0
  /** Tasks that found the native queue full (retries readmitted past its capacity). */
  private readonly readmit: Task[] = []

  constructor(capacity: number, weights: readonly number[]) {
    try {
      this.queue = new native.NativePriorityQueue({ capacity, weights: [...weights] })
    } catch (err) {
      throw fromNativeError(err)
    }
    const ops = this.queue.ops()
    this.push = ops.push
    this.pop = ops.pop
  }

  /** Queues `task` at its priority: staged, handed to the native queue in batches. */
  add(task: Task): void {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slots.length
    this.slots[slot] = task
    task.slot = slot
    const n = this.stagedCount++
    this.staged[2 * n] = slot
    this.staged[2 * n + 1] = task.priority
    if (this.stagedCount === STAGED) this.flush()
  }

  /**
   * The next task in schedule order, or undefined when none waits. It may be a cancelled
   * tombstone: the caller checks its state.
   */
  next(): Task | undefined {
    this.flush()
    if (this.readmit.length > 0) this.readmitWaiting()
    const slot = this.pop()
    if (slot < 0) return undefined
    const task = this.slots[slot]!
    this.release(slot)
    return task
  }

  /** Forgets a pending task that is cancelled while it waits outside the native queue. */
  forget(task: Task): void {
    const waiting = this.readmit.indexOf(task)
    if (waiting >= 0) this.readmit.splice(waiting, 1)
  }

  /** Frees the native queue. */
  close(): void {
    this.queue.close()
  }

  /** Hands the staged tasks to the native queue; those it has no room for wait in `readmit`. */
  private flush(): void {
    const count = this.stagedCount
    if (count === 0) return
    this.stagedCount = 0
    let admitted = this.queue.pushMany(this.staged, count)
    if (admitted === count) return
    // Full of cancelled tombstones, or of retries readmitted past queueSize.
    this.compact()
    for (; admitted < count; admitted++) {
      const slot = this.staged[2 * admitted]!
      if (!this.push(slot, this.staged[2 * admitted + 1]!)) {
        const task = this.slots[slot]!
        this.release(slot)
        this.readmit.push(task)
      }
    }
  }

  /** Moves tasks that found the native queue full into it, while it has room. */
  private readmitWaiting(): void {
    while (this.readmit.length > 0) {
      const task = this.readmit[0]!
      const reused = this.freeSlots.pop()
      const slot = reused ?? this.slots.length
      if (!this.push(slot, task.priority)) {
        if (reused !== undefined) this.freeSlots.push(reused)
        return
      }
      this.readmit.shift()
      this.slots[slot] = task
      task.slot = slot
    }
  }

  /** Drops cancelled tombstones from the native queue. */
  private compact(): void {
    const kept: Task[] = []
    for (let slot = this.pop(); slot >= 0; slot = this.pop()) {
      const task = this.slots[slot]!
      this.release(slot)
      if (task.state === 'pending') kept.push(task)
    }
    // Popped across levels in schedule order, each level in its own order: pushing back in
    // that order keeps every level first-in, first-out.
    for (const task of kept) {
      const slot = this.freeSlots.pop() ?? this.slots.length
      this.push(slot, task.priority)
      this.slots[slot] = task
      task.slot = slot
    }
  }

  private release(slot: number): void {
    const task = this.slots[slot]
    if (task !== undefined) task.slot = -1
    this.slots[slot] = undefined
    this.freeSlots.push(slot)
  }
}
