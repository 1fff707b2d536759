import test from 'ava'

import { MAX_DELTA_SECONDS, parseCacheControl, type CacheControl } from '../../src/gateway/http-cache'

const cases: [string, string | string[] | undefined, Partial<CacheControl>][] = [
  ['absent', undefined, { noStore: false, maxAge: undefined }],
  ['empty', '', { noCache: false }],
  ['max-age', 'max-age=60', { maxAge: 60 }],
  ['case and whitespace', '  Max-Age = 60 ,PUBLIC ', { maxAge: 60, public: true }],
  ['quoted value', 'max-age="60"', { maxAge: 60 }],
  ['s-maxage', 's-maxage=10, max-age=5', { sMaxAge: 10, maxAge: 5 }],
  ['no-store', 'no-store', { noStore: true }],
  ['no-cache unqualified', 'no-cache', { noCache: true, noCacheFields: undefined }],
  ['no-cache with fields', 'no-cache="Set-Cookie, X-Foo"', { noCache: true, noCacheFields: ['set-cookie', 'x-foo'] }],
  [
    'no-cache unqualified wins over later fields',
    'no-cache, no-cache="a"',
    { noCache: true, noCacheFields: undefined },
  ],
  ['no-cache unqualified wins over earlier fields', 'no-cache="a", no-cache', { noCacheFields: undefined }],
  ['private with fields', 'private="x-user"', { private: true, privateFields: ['x-user'] }],
  ['private', 'private', { private: true, privateFields: undefined }],
  ['revalidation', 'must-revalidate, proxy-revalidate', { mustRevalidate: true, proxyRevalidate: true }],
  ['rfc 5861', 'stale-while-revalidate=30, stale-if-error=600', { staleWhileRevalidate: 30, staleIfError: 600 }],
  ['max-stale without value', 'max-stale', { maxStale: Infinity }],
  ['max-stale with value', 'max-stale=5', { maxStale: 5 }],
  ['min-fresh', 'min-fresh=7', { minFresh: 7 }],
  ['request flags', 'only-if-cached, no-transform', { onlyIfCached: true, noTransform: true }],
  ['immutable', 'max-age=31536000, immutable', { immutable: true, maxAge: 31536000 }],
  ['repeated headers are one list', ['max-age=5', 'no-store'], { maxAge: 5, noStore: true }],
  ['first occurrence wins', 'max-age=5, max-age=100', { maxAge: 5 }],
  ['unknown directives ignored', 'foo, bar=baz, max-age=3', { maxAge: 3 }],
  ['comma inside quotes', 'no-cache="a, b", max-age=1', { noCacheFields: ['a', 'b'], maxAge: 1 }],
  ['escaped quote', 'private="a\\"b", max-age=2', { private: true, maxAge: 2 }],
  ['unterminated quote swallows the rest', 'no-cache="a, max-age=9', { noCache: true, maxAge: undefined }],
  // invalid delta-seconds: restrictive reading
  ['negative max-age is stale', 'max-age=-1', { maxAge: 0 }],
  ['fractional max-age is stale', 'max-age=1.5', { maxAge: 0 }],
  ['max-age without value is stale', 'max-age', { maxAge: 0 }],
  ['garbage s-maxage is stale', 's-maxage=abc', { sMaxAge: 0 }],
  ['huge max-age capped at 2^31', 'max-age=99999999999999999999999', { maxAge: MAX_DELTA_SECONDS }],
  [
    'invalid loosening directives ignored',
    'stale-while-revalidate=x, stale-if-error=-3, min-fresh=1e3',
    {
      staleWhileRevalidate: undefined,
      staleIfError: undefined,
      minFresh: undefined,
    },
  ],
  ['invalid max-stale ignored', 'max-stale=soon', { maxStale: undefined }],
  ['garbage', ',,,;;;=== "" \u0000\u00ff', { noStore: false, maxAge: undefined }],
]

for (const [name, header, expected] of cases) {
  test(`Cache-Control: ${name}`, (t) => {
    const cc = parseCacheControl(header)
    for (const [key, value] of Object.entries(expected)) {
      t.deepEqual(cc[key as keyof CacheControl], value, key)
    }
  })
}

test('Cache-Control: a very long header is parsed within a bound and does not throw', (t) => {
  const cc = parseCacheControl(`max-age=5, ${'x-unknown, '.repeat(100_000)}no-store`)
  t.is(cc.maxAge, 5)
  t.false(cc.noStore, 'directives past the parsed prefix are not seen')
})
