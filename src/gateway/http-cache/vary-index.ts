import { ByteReader, ByteWriter, latin1Bytes } from './byte-reader'
import { isFieldName } from './headers'

/**
 * What the cache keeps under a primary key whose responses vary: the request fields they
 * vary on and the generation naming their entries. A new index (after an invalidation, or
 * when the fields change) takes a new generation, so entries stored before it can no
 * longer be reached.
 * @internal
 */
export interface VaryIndex {
  generation: string
  names: string[]
}

/** "OLHV": optlayer HTTP vary index. */
const MAGIC = 0x56484c4f
const VERSION = 1

/** Whether `bytes` starts like an encoded {@link VaryIndex}. @internal */
export function isEncodedVaryIndex(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32LE(0) === MAGIC
}

/** magic u32 | version u8 | generation | name count u32 | names (strings: u32 length, Latin-1). @internal */
export function encodeVaryIndex(index: VaryIndex): Buffer {
  let size = 4 + 1 + latin1Bytes(index.generation) + 4
  for (const name of index.names) size += latin1Bytes(name)
  const w = new ByteWriter(Buffer.allocUnsafe(size))
  w.u32(MAGIC)
  w.u8(VERSION)
  w.latin1(index.generation)
  w.u32(index.names.length)
  for (const name of index.names) w.latin1(name)
  return w.bytes
}

/** The index encoded in `bytes`; throws `CorruptInputError` for anything else. @internal */
export function decodeVaryIndex(bytes: Buffer): VaryIndex {
  const r = new ByteReader(bytes, 'vary index')
  if (r.u32() !== MAGIC) throw r.corrupt('not a vary index')
  if (r.u8() !== VERSION) throw r.corrupt('unknown version')
  const generation = r.latin1()
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(generation)) throw r.corrupt('invalid generation')
  const names: string[] = []
  for (let n = r.u32(); n > 0; n--) {
    const name = r.latin1()
    if (!isFieldName(name)) throw r.corrupt('invalid field name')
    names.push(name)
  }
  r.end()
  if (names.length === 0) throw r.corrupt('no field names')
  return { generation, names }
}
