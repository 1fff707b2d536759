import test from 'ava'

import {
  createStoredResponse,
  evaluateConditional,
  notModifiedHeaders,
  revalidationHeaders,
  updateFrom304,
  type ConditionalResult,
  type RequestHeaders,
  type StoredResponse,
} from '../../src/gateway/http-cache'

const T = Date.UTC(2026, 0, 10, 12, 0, 0)
const http = (ms: number): string => new Date(ms).toUTCString()
const LAST_MODIFIED = http(T - 3_600_000)

function stored(headers: Record<string, string | string[]>, status = 200): StoredResponse {
  return createStoredResponse({
    request: { method: 'GET', headers: { 'accept-language': 'en' } },
    status,
    headers: { date: http(T), ...headers },
    body: Buffer.from('hello'),
    requestTime: T,
    responseTime: T,
  })
}

const withEtag = stored({ etag: '"v1"', 'last-modified': LAST_MODIFIED, 'cache-control': 'max-age=60' })
const weakEtag = stored({ etag: 'W/"v1"' })
const onlyLastModified = stored({ 'last-modified': LAST_MODIFIED })
const noValidators = stored({})

const conditionals: [string, string, RequestHeaders, StoredResponse, ConditionalResult][] = [
  ['no conditional', 'GET', {}, withEtag, 'full'],
  ['matching tag', 'GET', { 'if-none-match': '"v1"' }, withEtag, 'not-modified'],
  ['HEAD', 'HEAD', { 'if-none-match': '"v1"' }, withEtag, 'not-modified'],
  ['POST ignores it', 'POST', { 'if-none-match': '"v1"' }, withEtag, 'full'],
  ['weak request tag, strong stored (weak comparison)', 'GET', { 'if-none-match': 'W/"v1"' }, withEtag, 'not-modified'],
  ['strong request tag, weak stored', 'GET', { 'if-none-match': '"v1"' }, weakEtag, 'not-modified'],
  ['list with a match', 'GET', { 'if-none-match': '"a", "v1" ,W/"b"' }, withEtag, 'not-modified'],
  ['list without a match', 'GET', { 'if-none-match': '"a", "b"' }, withEtag, 'full'],
  ['tag with a comma', 'GET', { 'if-none-match': '"x,y", "v1"' }, withEtag, 'not-modified'],
  ['star', 'GET', { 'if-none-match': '*' }, noValidators, 'not-modified'],
  ['tag against no ETag', 'GET', { 'if-none-match': '"v1"' }, noValidators, 'full'],
  ['unquoted garbage', 'GET', { 'if-none-match': 'v1' }, withEtag, 'full'],
  ['repeated lines', 'GET', { 'if-none-match': ['"a"', '"v1"'] }, withEtag, 'not-modified'],
  [
    'If-None-Match takes precedence over If-Modified-Since',
    'GET',
    { 'if-none-match': '"other"', 'if-modified-since': http(T) },
    withEtag,
    'full',
  ],
  ['If-Modified-Since after Last-Modified', 'GET', { 'if-modified-since': http(T) }, onlyLastModified, 'not-modified'],
  ['If-Modified-Since equal', 'GET', { 'if-modified-since': LAST_MODIFIED }, onlyLastModified, 'not-modified'],
  ['If-Modified-Since before', 'GET', { 'if-modified-since': http(T - 7_200_000) }, onlyLastModified, 'full'],
  ['If-Modified-Since invalid', 'GET', { 'if-modified-since': 'yesterday' }, onlyLastModified, 'full'],
  ['If-Modified-Since numeric', 'GET', { 'if-modified-since': '0' }, onlyLastModified, 'full'],
  ['If-Modified-Since against Date', 'GET', { 'if-modified-since': http(T) }, noValidators, 'not-modified'],
  ['If-Modified-Since before Date', 'GET', { 'if-modified-since': http(T - 1000) }, noValidators, 'full'],
  ['non-2xx stored status', 'GET', { 'if-none-match': '*' }, stored({ etag: '"v1"' }, 404), 'full'],
]

for (const [name, method, headers, response, expected] of conditionals) {
  test(`conditional: ${name}`, (t) => {
    t.is(evaluateConditional(method, headers, response), expected)
  })
}

test('304 headers: the listed fields, Last-Modified only without ETag, and Age', (t) => {
  const response = stored({
    etag: '"v1"',
    'last-modified': LAST_MODIFIED,
    'cache-control': 'max-age=60',
    'content-type': 'text/plain',
    'content-location': '/a',
    expires: http(T + 60_000),
    vary: 'Accept-Language',
    'x-custom': '1',
  })
  t.deepEqual(notModifiedHeaders(response, T + 5000), [
    ['date', http(T)],
    ['etag', '"v1"'],
    ['cache-control', 'max-age=60'],
    ['content-location', '/a'],
    ['expires', http(T + 60_000)],
    ['vary', 'Accept-Language'],
    ['age', '5'],
  ])
  t.deepEqual(notModifiedHeaders(onlyLastModified, T), [
    ['date', http(T)],
    ['last-modified', LAST_MODIFIED],
    ['age', '0'],
  ])
  const encoded = notModifiedHeaders(response, T, { encoding: 'gzip' })
  t.deepEqual(
    encoded.filter(([name]) => name === 'etag' || name === 'vary'),
    [
      ['etag', 'W/"v1"'],
      ['vary', 'Accept-Language'],
      ['vary', 'accept-encoding'],
    ],
  )
})

test('revalidation headers: ETag and Last-Modified, invalid ones left out', (t) => {
  t.deepEqual(revalidationHeaders(withEtag), { 'if-none-match': '"v1"', 'if-modified-since': LAST_MODIFIED })
  t.deepEqual(revalidationHeaders(weakEtag), { 'if-none-match': 'W/"v1"' })
  t.deepEqual(revalidationHeaders(onlyLastModified), { 'if-modified-since': LAST_MODIFIED })
  t.deepEqual(revalidationHeaders(noValidators), {})
  t.deepEqual(revalidationHeaders(stored({ etag: 'unquoted', 'last-modified': 'soon' })), {})
})

test('updateFrom304: replaces fields, keeps body and variants, resets times and Age, leaves the input alone', (t) => {
  const original = {
    ...stored({ etag: '"v1"', 'cache-control': 'max-age=60', age: '30', 'content-type': 'text/plain', 'x-a': '1' }),
    variants: { gzip: Buffer.from('gz') },
  }
  const before = structuredClone(original.headers)
  const later = T + 120_000
  const updated = updateFrom304(
    original,
    {
      etag: '"v1"',
      'cache-control': 'max-age=300',
      date: http(later),
      'x-a': '2',
      'content-length': '0',
      'content-encoding': 'br',
      'set-cookie': 'session=1',
      connection: 'close',
    },
    later - 10,
    later,
  )
  if (updated === undefined) return t.fail('the 304 should select the stored response')
  t.deepEqual(original.headers, before)
  t.deepEqual(updated.headers, [
    ['content-type', 'text/plain'],
    ['etag', '"v1"'],
    ['cache-control', 'max-age=300'],
    ['date', http(later)],
    ['x-a', '2'],
  ])
  t.is(updated.body, original.body)
  t.is(updated.variants.gzip, original.variants.gzip)
  t.is(updated.requestTime, later - 10)
  t.is(updated.responseTime, later)
  t.deepEqual(updated.varyValues, original.varyValues)
})

test('updateFrom304: a 304 without Date dates the response from its arrival; a new Age replaces the old', (t) => {
  const original = stored({ etag: '"v1"', age: '30' })
  const later = T + 120_000
  const updated = updateFrom304(original, [['age', '4']], later, later)
  t.deepEqual(updated?.headers, [
    ['etag', '"v1"'],
    ['age', '4'],
    ['date', http(later)],
  ])
})

const selections: [string, StoredResponse, Record<string, string>, boolean][] = [
  ['same strong ETag', withEtag, { etag: '"v1"' }, true],
  ['weak ETag of the same tag', withEtag, { etag: 'W/"v1"' }, true],
  ['another ETag', withEtag, { etag: '"v2"' }, false],
  ['an ETag where none was stored', onlyLastModified, { etag: '"v1"' }, false],
  ['malformed ETag', withEtag, { etag: 'v1' }, false],
  ['same Last-Modified', onlyLastModified, { 'last-modified': LAST_MODIFIED }, true],
  ['another Last-Modified', onlyLastModified, { 'last-modified': http(T) }, false],
  ['no validators', withEtag, { 'cache-control': 'max-age=5' }, true],
]

for (const [name, response, headers, selected] of selections) {
  test(`updateFrom304 selection: ${name}`, (t) => {
    t.is(updateFrom304(response, headers, T + 1, T + 2) !== undefined, selected)
  })
}
