import { NotSerializableError } from '../../core/errors'
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
