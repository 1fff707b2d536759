import test from 'ava'

import { primaryKey, secondaryKey, varyNames, varyValue, varyValues, VARY_ANY } from '../../src/gateway/http-cache'

const primaries: [string, string][] = [
  ['https://example.com/a?b=1', 'https://example.com/a?b=1'],
  ['HTTPS://Example.COM/a', 'https://example.com/a'],
  ['https://example.com:443/a', 'https://example.com/a'],
  ['http://example.com:80/a', 'http://example.com/a'],
  ['http://example.com:8080/a', 'http://example.com:8080/a'],
  ['https://example.com', 'https://example.com/'],
  ['https://example.com/a/../b/./c', 'https://example.com/b/c'],
  ['https://example.com/a#fragment', 'https://example.com/a'],
  ['https://example.com/a?b=2&a=1', 'https://example.com/a?b=2&a=1'],
  ['https://example.com/ü', 'https://example.com/%C3%BC'],
  ['https://bücher.example/', 'https://xn--bcher-kva.example/'],
]

for (const [url, expected] of primaries) {
  test(`primary key: ${url}`, (t) => {
    t.is(primaryKey(url), expected)
  })
}

for (const bad of ['/relative', 'ftp://example.com/a', 'not a url', '', 'file:///etc/passwd', 'mailto:a@b']) {
  test(`primary key refuses ${JSON.stringify(bad)}`, (t) => {
    t.throws(() => primaryKey(bad), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  })
}

test('vary names: lower-cased, sorted, deduplicated, without Accept-Encoding', (t) => {
  t.deepEqual(varyNames(undefined), [])
  t.deepEqual(varyNames(''), [])
  t.deepEqual(varyNames('Accept-Language, accept, ACCEPT , Accept-Encoding,,'), ['accept', 'accept-language'])
  t.deepEqual(varyNames('Accept-Encoding'), [])
  t.is(varyNames('Accept, *'), VARY_ANY)
})

test('vary values: whitespace normalized, lines joined, absent is null', (t) => {
  t.is(varyValue({ accept: '  text/html,\t  application/json  ' }, 'accept'), 'text/html, application/json')
  t.is(varyValue({ accept: ['a', 'b'] }, 'accept'), 'a, b')
  t.is(varyValue({}, 'accept'), null)
  t.is(varyValue({ accept: '' }, 'accept'), '')
  t.deepEqual(varyValues({ a: '1' }, ['a', 'b']), ['1', null])
})

test('secondary key: equal for equal values, distinct otherwise, absent distinct from empty', (t) => {
  const names = ['accept', 'accept-language']
  const key = (headers: Record<string, string>) => secondaryKey(names, varyValues(headers, names))
  t.is(key({ accept: 'a', 'accept-language': 'en' }), key({ 'accept-language': 'en', accept: 'a' }))
  t.is(key({ accept: 'a,  b', 'accept-language': 'en' }), key({ accept: 'a, b', 'accept-language': 'en' }))
  t.not(key({ accept: 'a', 'accept-language': 'en' }), key({ accept: 'a', 'accept-language': 'fr' }))
  t.not(key({ accept: '' }), key({}))
  // A value cannot pose as the next name's part.
  t.not(secondaryKey(['a', 'b'], ['x\nb=y', null]), secondaryKey(['a', 'b'], ['x', 'y']))
  t.regex(key({}), /^[A-Za-z0-9_-]{43}$/)
})
