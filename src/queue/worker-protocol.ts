/**
 * Messages between a queue and its worker threads: short tuples, cheaper to clone than
 * objects with named fields.
 * @internal
 */

/** `[0, job, name, args, attempt, id]` runs a task; `[1, job]` aborts its signal. */
export type ToWorker =
  [kind: 0, job: number, name: string, args: unknown, attempt: number, id: string] | [kind: 1, job: number]

/** `[0, job, ok, value or wire error]` ends a run; `[1, job, value]` is progress; `[2, job]` a heartbeat. */
export type FromWorker =
  [kind: 0, job: number, ok: boolean, value: unknown] | [kind: 1, job: number, value: unknown] | [kind: 2, job: number]
