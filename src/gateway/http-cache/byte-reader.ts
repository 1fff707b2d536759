import { CorruptInputError } from '../../core/errors'

/**
 * Reads a binary record front to back, checking every length against the bytes left:
 * anything short, long or out of range throws `CorruptInputError`, never a `RangeError`.
 * @internal
 */
export class ByteReader {
  private offset = 0

  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  /** Throws unless `n` more bytes are there. */
  private need(n: number): void {
    if (n > this.bytes.length - this.offset) throw this.corrupt('truncated')
  }

  corrupt(why: string): CorruptInputError {
    return new CorruptInputError(`corrupt ${this.what}: ${why}`)
  }

  u8(): number {
    this.need(1)
    return this.bytes[this.offset++] as number
  }

  u16(): number {
    this.need(2)
    const value = this.bytes.readUInt16LE(this.offset)
    this.offset += 2
    return value
  }

  u32(): number {
    this.need(4)
    const value = this.bytes.readUInt32LE(this.offset)
    this.offset += 4
    return value
  }

  f64(): number {
    this.need(8)
    const value = this.bytes.readDoubleLE(this.offset)
    this.offset += 8
    return value
  }

  /** The next `n` bytes as a view of the input (no copy). */
  view(n: number): Buffer {
    this.need(n)
    const view = this.bytes.subarray(this.offset, this.offset + n)
    this.offset += n
    return view
  }

  /** A u32 length, then that many bytes as a Latin-1 string (HTTP fields are octets). */
  latin1(): string {
    const n = this.u32()
    this.need(n)
    const text = this.bytes.toString('latin1', this.offset, this.offset + n)
    this.offset += n
    return text
  }

  /** Throws unless every byte was read: a longer record is not ours either. */
  end(): void {
    if (this.offset !== this.bytes.length) throw this.corrupt('trailing bytes')
  }
}

/**
 * Writes a record into a buffer allocated once at its final size (computed beforehand
 * with {@link latin1Bytes}).
 * @internal
 */
export class ByteWriter {
  offset = 0

  constructor(readonly bytes: Buffer) {}

  u8(value: number): void {
    this.bytes[this.offset++] = value
  }

  u16(value: number): void {
    this.offset = this.bytes.writeUInt16LE(value, this.offset)
  }

  u32(value: number): void {
    this.offset = this.bytes.writeUInt32LE(value, this.offset)
  }

  f64(value: number): void {
    this.offset = this.bytes.writeDoubleLE(value, this.offset)
  }

  raw(data: Uint8Array): void {
    this.bytes.set(data, this.offset)
    this.offset += data.length
  }

  /** A u32 length and the Latin-1 bytes of `text`. */
  latin1(text: string): void {
    this.u32(text.length)
    this.offset += this.bytes.write(text, this.offset, 'latin1')
  }
}

/** The bytes {@link ByteWriter.latin1} takes for `text`. @internal */
export function latin1Bytes(text: string): number {
  return 4 + text.length
}
