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

/** An error as it crosses threads: structured clone keeps neither `code` nor the class. */
export interface WireError {
  name: string
  message: string
  code?: string
  stack?: string
}

export function toWire(error: unknown): WireError {
  if (error instanceof Error) {
    const wire: WireError = { name: error.name, message: error.message }
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string') wire.code = code
    if (error.stack !== undefined) wire.stack = error.stack
    return wire
  }
  return { name: 'Error', message: String(error) }
}

export function fromWire(value: unknown): Error {
  const wire = value as WireError
  const error = new Error(wire.message)
  error.name = wire.name
  if (wire.code !== undefined) (error as Error & { code: string }).code = wire.code
  if (wire.stack !== undefined) error.stack = wire.stack
  return error
}
