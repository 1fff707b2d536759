import test from 'ava'
import { Compressor, ZstdDictionary, ZstdPatch } from 'optlayer'

function response(i: number): string {
  return JSON.stringify({
    id: i,
    status: i % 3 === 0 ? 'shipped' : 'pending',
    customer: { name: `customer-${i % 50}`, tier: i % 2 ? 'gold' : 'silver' },
    items: [{ sku: `SKU-${(i * 31) % 1000}`, quantity: (i % 5) + 1, price: ((i * 17) % 100) + 0.99 }],
  })
}

test('a trained dictionary compresses small similar payloads better', (t) => {
  const samples = Array.from({ length: 300 }, (_, i) => response(i))
  const dictionary = ZstdDictionary.train(samples, { maxBytes: 8 * 1024 })
  t.true(dictionary.bytes.length <= 8 * 1024)
  const doc = response(1234)
  const withDictionary = dictionary.compress(doc)
  const without = Compressor.compress(doc, 'zstd')
  t.true(withDictionary.length < without.length * 0.7, `${withDictionary.length} vs ${without.length}`)
  t.is(dictionary.decompress(withDictionary).toString(), doc)
  const reloaded = new ZstdDictionary(Buffer.from(dictionary.bytes))
  t.is(reloaded.decompress(withDictionary).toString(), doc)
})

test('dictionary misuse gives typed errors', (t) => {
  const dictionary = ZstdDictionary.train(
    Array.from({ length: 200 }, (_, i) => response(i)),
    { maxBytes: 4096 },
  )
  const other = ZstdDictionary.train(
    Array.from({ length: 200 }, (_, i) => `other ${i} ${'z'.repeat(i % 40)}`),
    { maxBytes: 4096 },
  )
  t.throws(() => other.decompress(dictionary.compress(response(5))), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
  t.throws(() => ZstdDictionary.train([]), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  t.throws(() => new ZstdDictionary(Buffer.alloc(0)), { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' })
  const bomb = dictionary.compress(Buffer.alloc(2 << 20))
  t.throws(() => dictionary.decompress(bomb, { maxOutputBytes: 1 << 20 }), { code: 'ERR_OPTLAYER_OUTPUT_LIMIT' })
})

test('a patch against a reference is tiny and rebuilds the new version', (t) => {
  const reference = Buffer.from(Array.from({ length: 15_000 }, (_, i) => response(i)).join('\n'))
  t.true(reference.length > 1 << 20)
  const next = Buffer.from(reference)
  next.write('"status":"CHANGED"', 500_000)
  next.write('an edit near the end', next.length - 100)
  const patch = ZstdPatch.create(next, reference)
  t.true(patch.length < next.length / 100, `patch is ${patch.length} bytes`)
  t.deepEqual(ZstdPatch.apply(patch, reference), next)
  const wrong = Buffer.from(reference)
  wrong.fill(0x20, 0, 300_000)
  t.throws(() => ZstdPatch.apply(patch, wrong), { code: 'ERR_OPTLAYER_CORRUPT_INPUT' })
})
