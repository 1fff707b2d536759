import test from 'ava'
import { InternalError } from 'optlayer'

import { fromNativeError } from '../../src/core/errors'
import { native } from '../../src/core/native'

test('a native panic in a sync export becomes InternalError instead of a crash', (t) => {
  let caught: unknown
  try {
    native.__panicProbeSync()
  } catch (err) {
    caught = err
  }
  t.truthy(caught, 'the panic surfaced as a thrown error')
  const err = fromNativeError(caught)
  t.true(err instanceof InternalError)
  t.is(err.code, 'ERR_OPTLAYER_INTERNAL')
  t.regex(err.message, /panic probe \(sync\)/)
})

test('a native panic on the thread pool rejects with ERR_OPTLAYER_INTERNAL', async (t) => {
  const err = await t.throwsAsync(native.__panicProbeAsync())
  t.is((err as Error & { code?: string }).code, 'ERR_OPTLAYER_INTERNAL')
  t.regex(err?.message ?? '', /native panic: panic probe \(thread pool\)/)
})
