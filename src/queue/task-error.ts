import { AbortError, OptlayerError, TimeoutError } from '../core/errors'
import type { TaskError } from './types'

/**
 * Any thrown value as a {@link TaskError}: what `getTask(id).lastError` and dead letters
 * show, what crosses to and from worker threads (structured clone keeps neither `code`
 * nor the class) and what a durable queue stores in Redis.
 * @internal
 */
export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const out: TaskError = { name: error.name, message: error.message }
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string') out.code = code
    if (error.stack !== undefined) out.stack = error.stack
    return out
  }
  return { name: 'Error', message: String(error) }
}

/**
 * The error a task's `result` rejects with when the failure happened elsewhere (a worker
 * thread, another process): optlayer's own class for timeouts and aborts, else an `Error`
 * carrying the original name, message, code and stack.
 * @internal
 */
export function fromTaskError(error: TaskError | undefined, fallback: string): Error {
  const { name = 'Error', message = fallback, code, stack } = error ?? {}
  let result: Error
  if (code === TimeoutError.code) result = new TimeoutError(message)
  else if (code === AbortError.code) result = new AbortError(message)
  else {
    result = new Error(message)
    result.name = name
    if (code !== undefined) Object.assign(result, { code })
  }
  if (stack !== undefined && !(result instanceof OptlayerError)) result.stack = stack
  return result
}
