import test, { type ExecutionContext } from 'ava'

import { fromNativeError } from '../../src/core/errors'
import { native } from '../../src/core/native'

/** A raw native store (the L2 tier without the TypeScript layer) and its operations. */
function rawStore(t: ExecutionContext): {
  store: InstanceType<typeof native.NativeCache>
  ops: ReturnType<InstanceType<typeof native.NativeCache>['operations']>
} {
  const store = new native.NativeCache({ maxBytes: 1 << 20, shards: 1, maxKeyLength: 64, estimatedEntryBytes: 64 })
  t.teardown(() => store.close())
  return { store, ops: store.operations() }
}

const nativeCode = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return fromNativeError(err).code
  }
  return undefined
}

// The TTL is validated in TypeScript too; native must not panic in the Duration conversion.
test('the native store keeps a TTL beyond any clock as no expiry and refuses one that is not a duration', (t) => {
  const { ops } = rawStore(t)
  const value = Buffer.from('v')
  t.is(
    nativeCode(() => ops.set('far', value, 1e300)),
    undefined,
  )
  t.is(
    nativeCode(() => ops.set('max', value, Number.MAX_VALUE)),
    undefined,
  )
  t.true(ops.has('far'))
  t.true(ops.has('max'))
  for (const ttlMs of [Infinity, NaN, -1, -Infinity]) {
    t.is(
      nativeCode(() => ops.set('bad', value, ttlMs)),
      'ERR_OPTLAYER_INVALID_ARGUMENT',
      String(ttlMs),
    )
  }
  t.false(ops.has('bad'))
})

// Reading a key may run JavaScript (a getter on the array): the batch must read every key
// before it touches the shared views or the store, so that code can neither overwrite the
// values being gathered nor close the store under it.
test('getMany reads its keys before the lookups: a key getter that looks up the same store aliases nothing', (t) => {
  const { store, ops } = rawStore(t)
  ops.set('a', Buffer.from('AAAA'), 0)
  ops.set('b', Buffer.from('BBBB'), 0)
  ops.set('c', Buffer.from('CCCC'), 0)
  const keys = ['a', 'c']
  Object.defineProperty(keys, 1, {
    get() {
      ops.get('b')
      return 'c'
    },
  })
  t.is(ops.getMany(keys), 8)
  t.deepEqual(Array.from(store.lengthView(0).subarray(0, 2)), [4, 4])
  t.is(Buffer.from(store.valueView(0).subarray(0, 8)).toString(), 'AAAACCCC')
})

test('getMany whose key getter closes the store throws ClosedError instead of crashing', (t) => {
  const { store, ops } = rawStore(t)
  ops.set('a', Buffer.from('AAAA'), 0)
  const keys = ['a', 'b']
  Object.defineProperty(keys, 1, {
    get() {
      store.close()
      return 'b'
    },
  })
  t.is(
    nativeCode(() => ops.getMany(keys)),
    'ERR_OPTLAYER_CLOSED',
  )
  t.is(
    nativeCode(() => ops.get('a')),
    'ERR_OPTLAYER_CLOSED',
    'the store did close',
  )
})

test('getMany refuses a Proxy or a key that is not a string with a typed error', (t) => {
  const { ops } = rawStore(t)
  ops.set('a', Buffer.from('AAAA'), 0)
  t.is(
    nativeCode(() => ops.getMany(new Proxy(['a'], {}))),
    'ERR_OPTLAYER_INVALID_ARGUMENT',
  )
  const keys = ['a', 'b']
  Object.defineProperty(keys, 1, { get: () => 42 })
  t.is(
    nativeCode(() => ops.getMany(keys)),
    'ERR_OPTLAYER_INVALID_ARGUMENT',
  )
})
