import { NotSerializableError } from '../core/errors'

/** Values walked before the check trusts the rest: it guards against mistakes, not adversaries. */
const MAX_NODES = 10_000

/**
 * Throws `NotSerializableError` for `undefined`, functions and symbols, at the top level or
 * inside plain objects and arrays. Why: MessagePack encoders drop a nested function
 * silently, so a cache would hand back a different value than it was given.
 * @internal
 */
export function assertSerializable(value: unknown): void {
  if (value === undefined) throw new NotSerializableError('cannot cache undefined (delete the key instead)')
  const stack: unknown[] = [value]
  let seen = 0
  while (stack.length > 0 && seen++ < MAX_NODES) {
    const item = stack.pop()
    const type = typeof item
    if (type === 'function' || type === 'symbol') {
      throw new NotSerializableError(`cannot cache a ${type}${item === value ? '' : ' inside the value'}`)
    }
    if (type !== 'object' || item === null || ArrayBuffer.isView(item)) continue
    if (Array.isArray(item)) {
      for (const element of item) stack.push(element)
    } else if (Object.getPrototypeOf(item) === Object.prototype) {
      for (const key in item) stack.push((item as Record<string, unknown>)[key])
    }
  }
}
