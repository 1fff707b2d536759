import test from 'ava'

import { createStoredResponse, encodeStoredResponse, type StoredResponse } from '../../src/gateway/http-cache'
import { DecodedEntries } from '../../src/gateway/http-cache/decoded-entries'

function stored(body: string): StoredResponse {
  return createStoredResponse({
    request: { method: 'GET', headers: {} },
    status: 200,
    headers: { 'cache-control': 'max-age=60' },
    body: Buffer.from(body),
    requestTime: 1_000,
    responseTime: 1_000,
  })
}

test('a decoded response is reused only for a record equal to the one it came from', (t) => {
  const entries = new DecodedEntries(1 << 20)
  const a = stored('first')
  const bytes = encodeStoredResponse(a)
  entries.set('k', bytes, a)
  // Another read of the same record is another Buffer with the same bytes.
  t.is(entries.get('k', Buffer.from(bytes)), a)
  t.is(entries.get('k', encodeStoredResponse(stored('other'))), undefined)
  t.is(entries.get('other key', bytes), undefined)
})

test('kept records stay within maxBytes, the least recently used dropped first', (t) => {
  const a = stored('a'.repeat(100))
  const bytes = encodeStoredResponse(a)
  const entries = new DecodedEntries(bytes.length * 2)
  entries.set('1', bytes, a)
  entries.set('2', bytes, a)
  t.is(entries.get('1', bytes), a)
  entries.set('3', bytes, a)
  t.is(entries.get('2', bytes), undefined)
  t.is(entries.get('1', bytes), a)
  t.is(entries.get('3', bytes), a)
  const small = new DecodedEntries(bytes.length - 1)
  small.set('1', bytes, a)
  t.is(small.get('1', bytes), undefined)
})
