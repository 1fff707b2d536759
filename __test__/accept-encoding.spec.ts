import test from 'ava'
import { negotiateEncoding, parseAcceptEncoding } from 'optlayer'

test('parses codings and q-values in header order', (t) => {
  t.deepEqual(parseAcceptEncoding('gzip, deflate;q=0.5, BR;q=1.0 , *;q=0'), [
    { coding: 'gzip', q: 1 },
    { coding: 'deflate', q: 0.5 },
    { coding: 'br', q: 1 },
    { coding: '*', q: 0 },
  ])
  t.deepEqual(parseAcceptEncoding(undefined), [])
  t.deepEqual(parseAcceptEncoding(''), [])
})

test('malformed q-values make a coding unacceptable', (t) => {
  for (const bad of ['q=2', 'q=abc', 'q=0.1234', 'q=-1', 'q=1.5', 'q=']) {
    t.is(parseAcceptEncoding(`gzip;${bad}`)[0]?.q, 0, bad)
  }
  t.is(parseAcceptEncoding('gzip;Q=0.25')[0]?.q, 0.25)
})

test('the highest q-value wins, ties go to server preference', (t) => {
  t.is(negotiateEncoding('gzip, deflate, br, zstd'), 'zstd')
  t.is(negotiateEncoding('gzip, deflate, br'), 'br')
  t.is(negotiateEncoding('gzip;q=0.8, br;q=0.9'), 'br')
  t.is(negotiateEncoding('gzip;q=1, br;q=0.9, zstd;q=0.5'), 'gzip')
  t.is(negotiateEncoding('deflate'), 'deflate')
  t.is(negotiateEncoding('gzip, br', ['gzip', 'br']), 'gzip', 'custom preference')
})

test('q=0, identity and unknown codings yield no compression', (t) => {
  t.is(negotiateEncoding('zstd;q=0, br;q=0, gzip;q=0, deflate;q=0'), undefined)
  t.is(negotiateEncoding('identity'), undefined)
  t.is(negotiateEncoding('compress, x-custom'), undefined)
  t.is(negotiateEncoding(undefined), undefined)
  t.is(negotiateEncoding('gzip, gzip;q=0'), undefined, 'the most restrictive repeat wins')
})

test('the wildcard covers codings not named', (t) => {
  t.is(negotiateEncoding('*'), 'zstd')
  t.is(negotiateEncoding('zstd;q=0, *'), 'br')
  t.is(negotiateEncoding('*;q=0.5, gzip'), 'gzip')
  t.is(negotiateEncoding('*;q=0'), undefined)
})

test('a huge header is parsed only up to its bound', (t) => {
  const header = `${'x-junk, '.repeat(10_000)}gzip`
  t.true(parseAcceptEncoding(header).length < 600)
  t.is(negotiateEncoding(header), undefined)
})
