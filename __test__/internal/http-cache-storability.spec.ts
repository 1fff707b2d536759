import test from 'ava'

import {
  isStorable,
  notStorableReason,
  type HeaderList,
  type NotStorableReason,
  type RequestHeaders,
} from '../../src/gateway/http-cache'

const cases: [string, string, RequestHeaders, number, HeaderList, NotStorableReason | undefined][] = [
  ['max-age', 'GET', {}, 200, [['cache-control', 'max-age=60']], undefined],
  ['HEAD', 'HEAD', {}, 200, [['cache-control', 'max-age=60']], undefined],
  ['POST', 'POST', {}, 200, [['cache-control', 'max-age=60']], 'method'],
  ['lower-case method is not GET', 'get', {}, 200, [['cache-control', 'max-age=60']], 'method'],
  ['206 (no range support)', 'GET', {}, 206, [['cache-control', 'max-age=60']], 'status'],
  ['304', 'GET', {}, 304, [['cache-control', 'max-age=60']], 'status'],
  ['1xx', 'GET', {}, 103, [['cache-control', 'max-age=60']], 'status'],
  ['out of range', 'GET', {}, 600, [['cache-control', 'max-age=60']], 'status'],
  ['not an integer', 'GET', {}, 200.5, [['cache-control', 'max-age=60']], 'status'],
  ['response no-store', 'GET', {}, 200, [['cache-control', 'public, max-age=60, no-store']], 'no-store'],
  ['request no-store', 'GET', { 'cache-control': 'no-store' }, 200, [['cache-control', 'max-age=60']], 'no-store'],
  ['private', 'GET', {}, 200, [['cache-control', 'private, max-age=60']], 'private'],
  ['private with fields', 'GET', {}, 200, [['cache-control', 'private="x", max-age=60']], 'private'],
  ['Authorization', 'GET', { authorization: 'Bearer x' }, 200, [['cache-control', 'max-age=60']], 'authorization'],
  [
    'Authorization + public',
    'GET',
    { authorization: 'Bearer x' },
    200,
    [['cache-control', 'public, max-age=60']],
    undefined,
  ],
  [
    'Authorization + s-maxage',
    'GET',
    { authorization: 'Bearer x' },
    200,
    [['cache-control', 's-maxage=60']],
    undefined,
  ],
  [
    'Authorization + must-revalidate',
    'GET',
    { authorization: 'x' },
    200,
    [['cache-control', 'max-age=9, must-revalidate']],
    undefined,
  ],
  [
    'Set-Cookie',
    'GET',
    {},
    200,
    [
      ['cache-control', 'max-age=60'],
      ['set-cookie', 'a=1'],
    ],
    'set-cookie',
  ],
  [
    'Set-Cookie + public',
    'GET',
    {},
    200,
    [
      ['cache-control', 'public, max-age=60'],
      ['set-cookie', 'a=1'],
    ],
    undefined,
  ],
  [
    'Vary: *',
    'GET',
    {},
    200,
    [
      ['cache-control', 'max-age=60'],
      ['vary', 'Accept, *'],
    ],
    'vary-any',
  ],
  [
    'Vary on fields',
    'GET',
    {},
    200,
    [
      ['cache-control', 'max-age=60'],
      ['vary', 'Accept-Language'],
    ],
    undefined,
  ],
  ['no freshness, 302', 'GET', {}, 302, [], 'no-freshness'],
  ['invalid max-age is an explicit max-age=0', 'GET', {}, 500, [['cache-control', 'max-age=x-invalid']], undefined],
  ['heuristically cacheable 200 without anything', 'GET', {}, 200, [], undefined],
  ['404 heuristically cacheable', 'GET', {}, 404, [], undefined],
  ['302 with Expires', 'GET', {}, 302, [['expires', 'garbage']], undefined],
  ['302 with ETag', 'GET', {}, 302, [['etag', '"a"']], undefined],
  ['302 with Last-Modified', 'GET', {}, 302, [['last-modified', 'Sat, 10 Jan 2026 12:00:00 GMT']], undefined],
  ['503 public', 'GET', {}, 503, [['cache-control', 'public']], undefined],
  [
    'no-cache is storable',
    'GET',
    {},
    200,
    [
      ['cache-control', 'no-cache'],
      ['etag', '"a"'],
    ],
    undefined,
  ],
]

for (const [name, method, requestHeaders, status, headers, expected] of cases) {
  test(`storability: ${name}`, (t) => {
    const request = { method, headers: requestHeaders }
    t.is(notStorableReason(request, { status, headers }), expected)
    t.is(isStorable(request, { status, headers }), expected === undefined)
  })
}
