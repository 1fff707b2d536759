import { randomBytes } from 'node:crypto'

import test from 'ava'
import { chooseCompression } from 'optlayer'

const text = Buffer.from('{"user":"ada","role":"admin","tags":["a","b"]},'.repeat(2000))

test('skips small payloads and incompressible data', (t) => {
  t.is(chooseCompression(text.subarray(0, 500)), undefined)
  t.is(chooseCompression(randomBytes(64 * 1024)), undefined)
  t.is(chooseCompression(randomBytes(2000), { maxRatio: 2 })?.algorithm, 'zstd', 'maxRatio can admit anything')
  t.is(chooseCompression(text.subarray(0, 500), { minBytes: 100 })?.algorithm, 'zstd')
})

test('follows the client’s Accept-Encoding', (t) => {
  t.deepEqual(chooseCompression(text, { accept: 'gzip, br' })?.algorithm, 'br')
  t.deepEqual(chooseCompression(text, { accept: 'gzip' })?.algorithm, 'gzip')
  t.deepEqual(chooseCompression(text, { accept: 'zstd, br, gzip' })?.algorithm, 'zstd')
  t.is(chooseCompression(text, { accept: 'identity' }), undefined)
  t.is(chooseCompression(text, { accept: '' }), undefined)
})

test('the budget sets the level; large payloads step toward speed', (t) => {
  t.is(chooseCompression(text, { accept: 'gzip', budget: 'speed' })?.level, 1)
  t.is(chooseCompression(text, { accept: 'gzip', budget: 'balanced' })?.level, 6)
  t.is(chooseCompression(text, { accept: 'br', budget: 'size' })?.level, 9)
  const large = Buffer.concat([text, text, text, text, text, text, text, text, text, text, text, text])
  t.true(large.length > 1 << 20)
  t.is(chooseCompression(large, { accept: 'br', budget: 'size' })?.level, 5)
  t.is(chooseCompression(text, { budget: 'speed' })?.algorithm, 'lz4', 'outside HTTP the fastest codec')
})

test('reports its estimate and rejects a bad budget', (t) => {
  const choice = chooseCompression(text)
  t.true((choice?.estimatedRatio ?? 1) < 0.2)
  t.throws(() => chooseCompression(text, { budget: 'max' as 'size' }), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
})
