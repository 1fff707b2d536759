import test from 'ava'
import { compressedSerializer, jsonSerializer, msgpackSerializer, protobufSerializer } from 'optlayer'
import protobuf from 'protobufjs'

const value = { id: 7, name: 'ada', tags: ['x', 'y'], nested: { ok: true, score: 9.5 } }

test('JSON round trips and reports bad input with codes', (t) => {
  t.deepEqual(jsonSerializer.decode(jsonSerializer.encode(value)), value)
  t.throws(() => jsonSerializer.decode(Buffer.from('{nope')), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
  t.throws(() => jsonSerializer.encode(undefined), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})

test('MessagePack keeps types JSON loses', (t) => {
  const packer = msgpackSerializer()
  const rich = {
    when: new Date('2026-11-27T00:00:00Z'),
    set: new Set([1, 2]),
    bytes: new Uint8Array([1, 2]),
    u: undefined,
  }
  t.deepEqual(packer.decode(packer.encode(rich)), rich)
  t.true(packer.encode(value).length < jsonSerializer.encode(value).length)
  t.throws(() => packer.decode(Buffer.from([0x92, 0x01])), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' }, 'truncated array')
})

test('Protocol Buffers through a schema', (t) => {
  const root = protobuf.parse(
    'syntax = "proto3"; package demo; message User { uint32 id = 1; string name = 2; repeated string tags = 3; }',
  ).root
  const users = protobufSerializer<{ id: number; name: string; tags: string[] }>(root.lookupType('demo.User'))
  t.is(users.name, 'protobuf:demo.User')
  const user = { id: 7, name: 'ada', tags: ['x', 'y'] }
  t.deepEqual(users.decode(users.encode(user)), user)
  t.throws(() => users.encode({ id: 'seven' } as unknown as typeof user), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.throws(() => users.decode(Buffer.from([0xff, 0xff, 0xff])), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
})

test('a compressed serializer compresses large values only and tags them', (t) => {
  const inner = msgpackSerializer()
  const values = compressedSerializer(inner, { algorithm: 'zstd', minBytes: 256 })
  const small = values.encode({ a: 1 })
  t.is(small[0], 0, 'stored as is')
  const big = { rows: Array.from({ length: 500 }, (_, i) => ({ i, name: 'row' })) }
  const packed = values.encode(big)
  t.is(packed[0], 5, 'zstd tag')
  t.true(packed.length < inner.encode(big).length / 3)
  t.deepEqual(values.decode(packed), big)
  t.deepEqual(values.decode(small), { a: 1 })
  const viaLz4 = compressedSerializer(inner, { algorithm: 'lz4', minBytes: 1 })
  t.deepEqual(values.decode(viaLz4.encode(big)), big, 'the tag, not the settings, picks the decoder')
  t.throws(() => values.decode(Buffer.from([99, 1, 2])), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
  t.throws(() => values.decode(Buffer.alloc(0)), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
})
