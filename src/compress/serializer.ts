import { Packr, type Options as PackrOptions } from 'msgpackr'
import type { Type } from 'protobufjs'

import { CorruptInputError, InvalidArgumentError } from '../core/errors'

/** Turns values into bytes and back; the cache and the queue store values through one. */
export interface Serializer<T = unknown> {
  /** Short name, recorded in metrics and error messages. */
  readonly name: string
  /** MIME type of the encoded form. */
  readonly contentType: string
  /** Encodes `value`; throws `InvalidArgumentError` for values the format cannot hold. */
  encode(value: T): Buffer
  /** Decodes bytes made by {@link Serializer.encode}; throws `CorruptInputError` for anything else. */
  decode(bytes: Uint8Array): T
  /**
   * Decodes `bytes[start, end)` without a view of the range being made: what the cache's L2
   * tier calls on the buffer it reuses for every hit. Optional; `decode` of a subarray otherwise.
   */
  decodeRange?(bytes: Buffer, start: number, end: number): T
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** JSON through `JSON.stringify`/`JSON.parse`: universal and debuggable, larger and slower than MessagePack. */
export const jsonSerializer: Serializer = Object.freeze({
  name: 'json',
  contentType: 'application/json',
  encode(value: unknown): Buffer {
    const text = JSON.stringify(value)
    if (text === undefined) throw new InvalidArgumentError(`JSON cannot encode ${typeof value}`)
    return Buffer.from(text, 'utf8')
  },
  decode(bytes: Uint8Array): unknown {
    try {
      return JSON.parse(toBuffer(bytes).toString('utf8'))
    } catch (err) {
      throw new CorruptInputError('not valid JSON', { cause: err })
    }
  },
})

/**
 * MessagePack through msgpackr, the default for cached values: compact, fast, and it
 * keeps Dates, Sets, typed arrays, BigInts and `undefined` that JSON loses.
 * @param options msgpackr options; `useRecords` defaults to false so that any decoder
 * (not only one sharing this process's record structures) reads the bytes.
 */
export function msgpackSerializer(options: PackrOptions = {}): Serializer {
  const packr = new Packr({ useRecords: false, moreTypes: true, ...options })
  return {
    name: 'msgpack',
    contentType: 'application/msgpack',
    encode: (value) => packr.pack(value),
    decode(bytes) {
      try {
        return packr.unpack(toBuffer(bytes))
      } catch (err) {
        throw new CorruptInputError('not valid MessagePack', { cause: err })
      }
    },
    // A subarray per call would also make msgpackr build (and cache on it) a new DataView.
    decodeRange(bytes, start, end) {
      try {
        return packr.unpack(bytes, { start, end })
      } catch (err) {
        throw new CorruptInputError('not valid MessagePack', { cause: err })
      }
    },
  }
}

/**
 * Protocol Buffers through protobufjs for one message type (from `protobuf.parse` or
 * `protobuf.load`). Values are checked against the schema before encoding.
 *
 * @example
 * ```ts
 * const root = protobuf.parse('syntax = "proto3"; message User { string name = 1; uint32 age = 2; }').root
 * const users = protobufSerializer<{ name: string; age: number }>(root.lookupType('User'))
 * users.decode(users.encode({ name: 'ada', age: 36 }))
 * ```
 */
export function protobufSerializer<T extends object = Record<string, unknown>>(type: Type): Serializer<T> {
  return {
    name: `protobuf:${type.fullName.replace(/^\./, '')}`,
    contentType: 'application/x-protobuf',
    encode(value) {
      const problem = type.verify(value as Record<string, unknown>)
      if (problem) throw new InvalidArgumentError(`${type.name}: ${problem}`)
      return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish())
    },
    decode(bytes) {
      try {
        return type.toObject(type.decode(bytes), { longs: Number, enums: String, defaults: true }) as T
      } catch (err) {
        throw new CorruptInputError(`not a valid ${type.name} message`, { cause: err })
      }
    },
  }
}
