/**
 * One caller of `acquire()` waiting for a resource: a node of {@link WaiterQueue} that also
 * carries the promise's settle functions, its deadline and its abort signal.
 *
 * It is its own abort listener (`handleEvent`), so waiting with a signal allocates no closure.
 * @internal
 */
export class Waiter<T> {
  /** Neighbours in the queue; both undefined while not queued. */
  prev: Waiter<T> | undefined = undefined
  next: Waiter<T> | undefined = undefined
  /** True from {@link WaiterQueue.push} until it leaves the queue. */
  queued = false
  resolve!: (resource: T) => void
  reject!: (error: unknown) => void

  constructor(
    /** Clock reading when the caller started waiting. */
    readonly enqueuedAt: number,
    /** Clock reading at which the wait times out (Infinity: never). */
    readonly deadline: number,
    /** The caller's signal, listened to while queued. */
    readonly signal: AbortSignal | undefined,
    /** The stack of the `acquire()` call, when leak detection is on. */
    readonly trace: object | undefined,
    private readonly onAbort: (waiter: Waiter<T>) => void,
  ) {}

  /** The abort listener (EventTarget calls `handleEvent` on listener objects). */
  handleEvent(): void {
    this.onAbort(this)
  }
}

/**
 * Fair FIFO of waiters: an intrusive doubly linked list, so push, shift and removal of any
 * waiter (abort, timeout) are O(1) and allocate nothing beyond the waiter itself. (generic-pool
 * also queues in a linked list; tarn keeps an array and splices out an acquire that timed out.)
 *
 * Every waiter of a pool has the same timeout, so queue order is also deadline order: the
 * pool needs a single timer, armed for the head's deadline.
 * @internal
 */
export class WaiterQueue<T> {
  private head: Waiter<T> | undefined = undefined
  private tail: Waiter<T> | undefined = undefined
  private count = 0

  /** Waiters queued. */
  get size(): number {
    return this.count
  }

  /** The longest-waiting waiter, or undefined. */
  peek(): Waiter<T> | undefined {
    return this.head
  }

  /** Appends a waiter that is not queued. */
  push(waiter: Waiter<T>): void {
    waiter.queued = true
    waiter.prev = this.tail
    waiter.next = undefined
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
    this.count++
  }

  /** Removes and returns the longest-waiting waiter, or undefined. */
  shift(): Waiter<T> | undefined {
    const waiter = this.head
    if (waiter !== undefined) this.remove(waiter)
    return waiter
  }

  /** Removes a waiter wherever it is; a waiter that is not queued is left alone. O(1). */
  remove(waiter: Waiter<T>): void {
    if (!waiter.queued) return
    waiter.queued = false
    const { prev, next } = waiter
    if (prev === undefined) this.head = next
    else prev.next = next
    if (next === undefined) this.tail = prev
    else next.prev = prev
    waiter.prev = undefined
    waiter.next = undefined
    this.count--
  }
}
