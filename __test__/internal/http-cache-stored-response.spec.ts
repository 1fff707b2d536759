import test from 'ava'

import { CorruptInputError } from '../../src/core/errors'
import type { ContentEncoding } from '../../src/compress/accept-encoding'
import {
  createStoredResponse,
  decodeStoredResponse,
  encodeStoredResponse,
  isEncodedStoredResponse,
  responseHeaders,
  type HeaderList,
  type StoredResponse,
} from '../../src/gateway/http-cache'
import { seededRandom } from '../helpers/random'

const T = Date.UTC(2026, 0, 10, 12, 0, 0)
const http = (ms: number): string => new Date(ms).toUTCString()

function upstream(headers: Record<string, string | number | string[]> | HeaderList, method = 'GET') {
  return {
    request: { method, headers: { 'accept-language': ' en,  fr ', cookie: 'c=1' } },
    status: 200,
    headers,
    body: Buffer.from('hello'),
    requestTime: T - 5,
    responseTime: T,
  }
}

test('createStoredResponse keeps end-to-end fields only and records the Vary values', (t) => {
  const stored = createStoredResponse(
    upstream({
      Date: http(T),
      'Cache-Control': 'max-age=60',
      Connection: 'keep-alive, X-Hop',
      'X-Hop': 'gone',
      'Keep-Alive': 'timeout=5',
      TE: 'trailers',
      Trailer: 'x',
      'Transfer-Encoding': 'chunked',
      Upgrade: 'h2c',
      'Proxy-Authenticate': 'Basic',
      'Proxy-Authorization': 'Basic x',
      'Proxy-Connection': 'keep-alive',
      'Content-Length': 5,
      'Content-Encoding': 'identity',
      'Set-Cookie': ['a=1', 'b=2'],
      Vary: 'Accept-Language, Accept-Encoding, Cookie',
    }),
  )
  t.deepEqual(stored.headers, [
    ['date', http(T)],
    ['cache-control', 'max-age=60'],
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['vary', 'Accept-Language, Accept-Encoding, Cookie'],
  ])
  t.deepEqual(stored.varyNames, ['accept-language', 'cookie'])
  t.deepEqual(stored.varyValues, ['en, fr', 'c=1'])
  t.deepEqual(stored.variants, {})
  t.false(stored.headOnly)
  t.is(stored.body.toString(), 'hello')
})

test('createStoredResponse takes header pairs, adds a missing Date, and empties HEAD bodies', (t) => {
  const stored = createStoredResponse(upstream([['ETag', '"a"']], 'HEAD'))
  t.deepEqual(stored.headers, [
    ['etag', '"a"'],
    ['date', http(T)],
  ])
  t.true(stored.headOnly)
  t.is(stored.body.length, 0)
})

const refused: [string, Partial<ReturnType<typeof upstream>>][] = [
  ['an encoded body', { headers: { 'content-encoding': 'gzip' } }],
  ['a header name with a space', { headers: { 'bad name': 'x' } }],
  ['a header value with CR LF', { headers: { 'x-a': 'a\r\nset-cookie: evil=1' } }],
  ['a header value with NUL', { headers: { 'x-a': 'a\u0000' } }],
  ['a header value past Latin-1', { headers: { 'x-a': 'snow ☃' } }],
  ['a status of 99', { status: 99 }],
  ['a status of 600', { status: 600 }],
  ['a fractional status', { status: 200.5 }],
  ['a NaN time', { responseTime: NaN }],
  ['a negative time', { requestTime: -1 }],
]

for (const [name, change] of refused) {
  test(`createStoredResponse refuses ${name}`, (t) => {
    t.throws(() => createStoredResponse({ ...upstream({}), ...change }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  })
}

test('responseHeaders: Age replaces the stored one; an encoding weakens the ETag and varies on Accept-Encoding', (t) => {
  const stored = createStoredResponse(upstream({ date: http(T), etag: '"x"', age: '10', vary: 'Accept-Language' }))
  t.deepEqual(responseHeaders(stored, T + 2500), [
    ['date', http(T)],
    ['etag', '"x"'],
    ['vary', 'Accept-Language'],
    ['age', '12'],
  ])
  t.deepEqual(responseHeaders(stored, T, { encoding: 'br' }), [
    ['date', http(T)],
    ['etag', 'W/"x"'],
    ['vary', 'Accept-Language'],
    ['vary', 'accept-encoding'],
    ['content-encoding', 'br'],
    ['age', '10'],
  ])
  const withVariant = { ...stored, variants: { gzip: Buffer.from('g') } }
  t.true(responseHeaders(withVariant, T).some(([n, v]) => n === 'vary' && v === 'accept-encoding'))
  t.false(
    responseHeaders(withVariant, T, { varyOnAcceptEncoding: false }).some(
      ([n, v]) => n === 'vary' && v === 'accept-encoding',
    ),
  )
  const alreadyVaries = createStoredResponse(upstream({ etag: 'W/"x"', vary: 'accept-encoding' }))
  const headers = responseHeaders(alreadyVaries, T, { encoding: 'gzip' })
  t.deepEqual(
    headers.filter(([n]) => n === 'vary' || n === 'etag'),
    [
      ['etag', 'W/"x"'],
      ['vary', 'accept-encoding'],
    ],
  )
})

/** A random stored response: random fields, Vary values (some absent), variants, body sizes. */
function randomResponse(random: () => number): StoredResponse {
  const int = (n: number) => Math.floor(random() * n)
  const text = (n: number, from = 0x20, to = 0xff) =>
    Array.from({ length: int(n) }, () => String.fromCharCode(from + int(to - from)))
      .join('')
      .replace(/\x7f/g, ' ')
  const bytes = (n: number) => Buffer.from(Array.from({ length: int(n) }, () => int(256)))
  const name = () => `x-${text(12, 0x61, 0x7b)}`
  const headers: HeaderList = Array.from({ length: int(12) }, () => [name(), text(60)])
  const varyNames = Array.from({ length: int(4) }, name)
  const variants: Partial<Record<ContentEncoding, Buffer>> = {}
  for (const coding of ['zstd', 'br', 'gzip', 'deflate'] as const) if (random() < 0.5) variants[coding] = bytes(300)
  const headOnly = random() < 0.1
  return {
    status: 100 + int(500),
    headers,
    body: headOnly ? Buffer.alloc(0) : bytes(random() < 0.1 ? 70_000 : 500),
    variants: headOnly ? {} : variants,
    requestTime: random() * 2e12,
    responseTime: random() * 2e12,
    varyNames,
    varyValues: varyNames.map(() => (random() < 0.3 ? null : text(40))),
    headOnly,
  }
}

test('encode/decode round-trips random responses', (t) => {
  const random = seededRandom(9111)
  for (let i = 0; i < 500; i++) {
    const stored = randomResponse(random)
    const encoded = encodeStoredResponse(stored)
    t.true(isEncodedStoredResponse(encoded))
    t.deepEqual(decodeStoredResponse(encoded), stored)
  }
})

test('random byte flips of an encoded response throw CorruptInputError or decode to a valid response', (t) => {
  const random = seededRandom(404)
  let corrupt = 0
  let decoded = 0
  for (let i = 0; i < 200; i++) {
    const encoded = encodeStoredResponse(randomResponse(random))
    for (let j = 0; j < 20; j++) {
      const damaged = Buffer.from(encoded)
      const flips = 1 + Math.floor(random() * 3)
      // Half within the structured front: flips in the bodies decode whatever they hold.
      const span = j % 2 === 0 ? Math.min(damaged.length, 200) : damaged.length
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(random() * span)
        damaged[at] = (damaged[at] as number) ^ (1 + Math.floor(random() * 255))
      }
      try {
        const value = decodeStoredResponse(damaged)
        decoded++
        // What decodes must encode back to the same bytes: a valid response, nothing read out of bounds.
        t.deepEqual(encodeStoredResponse(value), damaged)
      } catch (error) {
        if (!(error instanceof CorruptInputError)) throw error
        corrupt++
      }
    }
  }
  t.true(corrupt > 0 && decoded > 0, `corrupt ${corrupt}, decoded ${decoded}`)
})

test('every truncation and any trailing byte is corrupt', (t) => {
  const encoded = encodeStoredResponse(randomResponse(seededRandom(7)))
  for (let length = 0; length < encoded.length; length++) {
    t.throws(() => decodeStoredResponse(encoded.subarray(0, length)), { instanceOf: CorruptInputError })
  }
  t.throws(() => decodeStoredResponse(Buffer.concat([encoded, Buffer.from([0])])), { instanceOf: CorruptInputError })
})

test('other formats, versions, flags and random bytes are corrupt', (t) => {
  const encoded = encodeStoredResponse(randomResponse(seededRandom(8)))
  const at = (offset: number, value: number) => {
    const copy = Buffer.from(encoded)
    copy[offset] = value
    return copy
  }
  const bad: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['another magic', at(0, 0)],
    ['another version', at(4, 2)],
    ['unknown flags', at(5, 0x80)],
    ['status 0', Buffer.concat([encoded.subarray(0, 6), Buffer.from([0, 0]), encoded.subarray(8)])],
    ['status 65535', Buffer.concat([encoded.subarray(0, 6), Buffer.from([0xff, 0xff]), encoded.subarray(8)])],
    [
      'NaN request time',
      Buffer.concat([encoded.subarray(0, 8), Buffer.from(new Float64Array([NaN]).buffer), encoded.subarray(16)]),
    ],
    [
      'negative response time',
      Buffer.concat([encoded.subarray(0, 16), Buffer.from(new Float64Array([-1]).buffer), encoded.subarray(24)]),
    ],
    [
      'huge header count',
      Buffer.concat([encoded.subarray(0, 24), Buffer.from([0xff, 0xff, 0xff, 0xff]), encoded.subarray(28)]),
    ],
    ['JSON', Buffer.from('{"status":200}')],
  ]
  for (const [name, bytes] of bad) t.throws(() => decodeStoredResponse(bytes), { instanceOf: CorruptInputError }, name)
  const random = seededRandom(1)
  for (let i = 0; i < 1000; i++) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)))
    if (i % 2 === 0 && bytes.length >= 5) bytes.set([0x4f, 0x4c, 0x48, 0x52, 1]) // right magic and version
    t.throws(() => decodeStoredResponse(bytes), { instanceOf: CorruptInputError })
  }
})

test('an injected CR LF in a stored field is corrupt', (t) => {
  const stored: StoredResponse = {
    status: 200,
    headers: [['x-a', 'aaaa']],
    body: Buffer.alloc(0),
    variants: {},
    requestTime: T,
    responseTime: T,
    varyNames: [],
    varyValues: [],
    headOnly: false,
  }
  const encoded = encodeStoredResponse(stored)
  const at = encoded.indexOf('aaaa', 0, 'latin1')
  encoded.write('a\r\na', at, 'latin1')
  t.throws(() => decodeStoredResponse(encoded), { instanceOf: CorruptInputError })
})
