import type { StoredResponse } from './stored-response'

interface Decoded {
  bytes: Buffer
  stored: StoredResponse
}

/**
 * Stored responses already decoded, by cache key, least recently used dropped past
 * `maxBytes`. An entry is reused only for a record byte-for-byte equal to the one it was
 * decoded from: comparing bytes costs far less than decoding and checking every field again,
 * and needs no invalidation (a record replaced by another instance, or deleted, never matches).
 * @internal
 */
export class DecodedEntries {
  private readonly entries = new Map<string, Decoded>()
  private bytes = 0

  constructor(private readonly maxBytes: number) {}

  /** The response decoded from a record equal to `bytes` under `key`, if kept. */
  get(key: string, bytes: Buffer): StoredResponse | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined || !entry.bytes.equals(bytes)) return undefined
    // Map order is insertion order: re-inserting marks it most recently used.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.stored
  }

  /** Keeps `stored`, decoded from `bytes` (whose views it holds), under `key`. */
  set(key: string, bytes: Buffer, stored: StoredResponse): void {
    this.drop(key)
    if (bytes.length > this.maxBytes) return
    this.entries.set(key, { bytes, stored })
    this.bytes += bytes.length
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.entries.delete(oldest)
      this.bytes -= entry.bytes.length
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.bytes -= entry.bytes.length
  }
}
