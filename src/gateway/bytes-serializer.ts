import type { Serializer } from '../compress/serializer'
import { InvalidArgumentError } from '../core/errors'

/**
 * Buffers stored as they are: the HTTP cache's records are bytes already (the binary
 * stored-response form), so wrapping them in MessagePack would only copy them. `decode`
 * copies, as the cache may hand it a buffer it reuses.
 */
export const bytesSerializer: Serializer<Buffer> = Object.freeze({
  name: 'bytes',
  contentType: 'application/octet-stream',
  encode(value: Buffer): Buffer {
    if (!Buffer.isBuffer(value)) throw new InvalidArgumentError('the HTTP cache stores Buffers only')
    return value
  },
  decode(bytes: Uint8Array): Buffer {
    return Buffer.from(bytes)
  },
})
