import { AbortError, NotSerializableError, OptlayerError, TimeoutError } from '../../errors'
import type { TaskError } from '../types'

/**
 * Encodes a task's arguments or result as JSON for Redis ('' for undefined). Throws
 * {@link NotSerializableError} for what JSON cannot carry faithfully (functions, symbols,
 * bigints, cycles).
 * @internal
 */
export function encodeValue(what: string, value: unknown): string {
  if (value === undefined) return ''
  let text: string | undefined
  try {
    text = JSON.stringify(value, (_key, inner: unknown) => {
      if (typeof inner === 'function' || typeof inner === 'symbol' || typeof inner === 'bigint') {
        throw new NotSerializableError(`${what} holds a ${typeof inner}, which cannot be stored in Redis`)
      }
      return inner
    })
  } catch (error) {
    if (error instanceof NotSerializableError) throw error
    throw new NotSerializableError(`${what} cannot be serialized: ${(error as Error).message}`, { cause: error })
  }
  if (text === undefined) throw new NotSerializableError(`${what} cannot be serialized`)
  return text
}

/** Decodes what {@link encodeValue} wrote. @internal */
export function decodeValue(text: string | null | undefined): unknown {
  return text === null || text === undefined || text === '' ? undefined : JSON.parse(text)
}

/** The storable form of whatever a handler threw. @internal */
export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const { code } = error as { code?: unknown }
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack === undefined ? {} : { stack: error.stack }),
    }
  }
  return { name: 'Error', message: String(error) }
}

/** Parses a stored error, tolerating a missing or damaged one. @internal */
export function parseTaskError(text: string | null | undefined): TaskError | undefined {
  if (text === null || text === undefined || text === '') return undefined
  try {
    const { name, message, code, stack } = JSON.parse(text) as Partial<TaskError>
    return {
      name: String(name ?? 'Error'),
      message: String(message ?? ''),
      ...(code === undefined ? {} : { code: String(code) }),
      ...(stack === undefined ? {} : { stack: String(stack) }),
    }
  } catch {
    return { name: 'Error', message: text }
  }
}

/**
 * The error a task's `result` rejects with: optlayer's own class for timeouts and aborts, else
 * an `Error` carrying the handler's name, message, code and stack.
 * @internal
 */
export function toRejection(error: TaskError | undefined, fallback: string): Error {
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
