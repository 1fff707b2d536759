import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import test from 'ava'
import { InvalidArgumentError } from 'optlayer'

import { InFlightLimit } from '../../src/gateway/admission'
import { BodyTap } from '../../src/gateway/body-tap'
import { TrustedProxies } from '../../src/gateway/client-address'
import { addVary, encodedHeaders, isCompressibleType, mayCompress } from '../../src/gateway/compression'
import { appendToList, endToEndHeaders } from '../../src/gateway/hop-by-hop'
import { discard } from '../../src/gateway/relay'

test('trusted proxies: IPv4 and IPv6 CIDRs, single addresses, IPv4-mapped peers', (t) => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1'])
  t.true(trusted.trusts('10.20.30.40'))
  t.true(trusted.trusts('::ffff:10.1.2.3'))
  t.true(trusted.trusts('192.168.1.7'))
  t.false(trusted.trusts('192.168.1.8'))
  t.true(trusted.trusts('2001:db8:1::5'))
  t.true(trusted.trusts('::1'))
  t.false(trusted.trusts('2001:db9::1'))
  t.false(trusted.trusts('not an address'))
  t.false(trusted.trusts(undefined))
  t.false(new TrustedProxies([]).trusts('10.0.0.1'))
})

test('the client address walks X-Forwarded-For from the right past trusted hops', (t) => {
  const trusted = new TrustedProxies(['10.0.0.0/8', 'fd00::/8'])
  t.is(trusted.clientAddress('203.0.113.9', '198.51.100.1'), '203.0.113.9', 'untrusted peer: its own address')
  t.is(trusted.clientAddress('10.0.0.1', undefined), '10.0.0.1')
  t.is(trusted.clientAddress('10.0.0.1', '198.51.100.1'), '198.51.100.1')
  t.is(trusted.clientAddress('10.0.0.1', '1.1.1.1, 198.51.100.1, 10.0.0.2'), '198.51.100.1')
  t.is(trusted.clientAddress('10.0.0.1', ['1.1.1.1', '198.51.100.1, fd00::3']), '198.51.100.1')
  t.is(trusted.clientAddress('::ffff:10.0.0.1', '2001:db8::7'), '2001:db8::7')
  t.is(trusted.clientAddress('10.0.0.1', 'garbage, 10.0.0.3'), 'garbage', 'a malformed hop stops the walk')
  t.is(trusted.clientAddress('10.0.0.1', '10.0.0.5, 10.0.0.3'), '10.0.0.5', 'all trusted: the leftmost')
  t.is(trusted.clientAddress('10.0.0.1', ' , '), '10.0.0.1')
})

test('trusted proxies refuse what is not an address or CIDR', (t) => {
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/1', 'host.example', '10.0.0.0/x', '']) {
    t.throws(() => new TrustedProxies([bad]), { instanceOf: InvalidArgumentError }, bad)
  }
  t.throws(() => new TrustedProxies('10.0.0.0/8' as never), { instanceOf: InvalidArgumentError })
})

test('hop-by-hop headers: fixed ones, Proxy-*, and those Connection names', (t) => {
  const kept = endToEndHeaders({
    connection: 'Upgrade, X-Hop',
    upgrade: 'websocket',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    trailer: 'x-sum',
    'transfer-encoding': 'chunked',
    'proxy-connection': 'keep-alive',
    'proxy-authorization': 'Basic x',
    'x-kept': 'yes',
    'set-cookie': ['a=1', 'b=2'],
    'content-length': '5',
  })
  t.deepEqual(kept, { 'x-kept': 'yes', 'set-cookie': ['a=1', 'b=2'], 'content-length': '5' })
  t.is(appendToList(undefined, '1.1 optlayer'), '1.1 optlayer')
  t.is(appendToList(['1.0 a', '1.1 b'], 'c'), '1.0 a, 1.1 b, c')
})

test('compressible types and responses', (t) => {
  for (const type of ['text/html; charset=utf-8', 'application/json', 'application/problem+json', 'image/svg+xml']) {
    t.true(isCompressibleType(type), type)
  }
  for (const type of ['image/png', 'application/octet-stream', 'text/event-stream', undefined]) {
    t.false(isCompressibleType(type), String(type))
  }
  const json = { 'content-type': 'application/json' }
  t.true(mayCompress('GET', 200, json, 1024))
  t.true(mayCompress('GET', 200, { ...json, 'content-length': '2048' }, 1024))
  t.false(mayCompress('GET', 200, { ...json, 'content-length': '100' }, 1024))
  t.false(mayCompress('HEAD', 200, json, 1024))
  t.false(mayCompress('GET', 206, json, 1024))
  t.false(mayCompress('GET', 200, { ...json, 'content-encoding': 'br' }, 1024))
  t.true(mayCompress('GET', 200, { ...json, 'content-encoding': 'identity' }, 1024))
  t.false(mayCompress('GET', 200, { ...json, 'cache-control': 'public, no-transform' }, 1024))
})

test('Vary gains Accept-Encoding once; encoded headers drop the length and weaken the ETag', (t) => {
  const headers: Record<string, string> = { vary: 'Accept-Language' }
  addVary(headers, 'Accept-Encoding')
  addVary(headers, 'accept-encoding')
  t.is(headers.vary, 'Accept-Language, Accept-Encoding')
  const any: Record<string, string> = { vary: '*' }
  addVary(any, 'Accept-Encoding')
  t.is(any.vary, '*')
  const encoded = encodedHeaders(
    { 'content-length': '10', etag: '"a"', 'accept-ranges': 'bytes', 'content-type': 'text/plain' },
    'gzip',
  )
  t.deepEqual(encoded, { etag: 'W/"a"', 'content-type': 'text/plain', 'content-encoding': 'gzip' })
  t.is(encodedHeaders({ etag: 'W/"b"' }, 'br').etag, 'W/"b"')
})

test('the body tap keeps a copy under its limit and drops it past the limit', async (t) => {
  const small = new BodyTap(10)
  await pipeline(Readable.from([Buffer.from('abc'), Buffer.from('def')]), small, discard())
  t.is(small.body()?.toString(), 'abcdef')
  const large = new BodyTap(4)
  await pipeline(Readable.from([Buffer.from('abc'), Buffer.from('def')]), large, discard())
  t.true(large.overflowed)
  t.is(large.body(), undefined)
})

test('the in-flight limit admits up to max and resolves drained() at zero', async (t) => {
  const limit = new InFlightLimit(2)
  t.true(limit.tryEnter())
  t.true(limit.tryEnter())
  t.false(limit.tryEnter())
  t.true(limit.saturated)
  let drained = false
  const waiting = limit.drained().then(() => (drained = true))
  limit.leave()
  await Promise.resolve()
  t.false(drained)
  limit.leave()
  await waiting
  t.true(drained)
  t.is(limit.inFlight, 0)
})
