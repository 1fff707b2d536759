import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

// Internal: the binding's codes are spelled in Rust, their classes in TypeScript; a code added
// on one side only would surface as an InternalError instead of its typed class.
import { fromNativeError, InternalError } from '../../src/core/errors'

const RUST_ERRORS = join(__dirname, '..', '..', 'crates', 'node', 'src', 'errors.rs')

function rustCodes(): string[] {
  const source = readFileSync(RUST_ERRORS, 'utf8')
  return [...source.matchAll(/Code::\w+ => "(ERR_OPTLAYER_\w+)"/g)].map((match) => match[1]!)
}

test('the binding spells at least the codes the typed errors expect', (t) => {
  const codes = rustCodes()
  t.true(codes.length >= 9, `found ${codes.length} codes in ${RUST_ERRORS}`)
  t.is(new Set(codes).size, codes.length, 'each code once')
})

test('every code the binding can throw becomes the typed error of that code', (t) => {
  for (const code of rustCodes()) {
    const error = fromNativeError(Object.assign(new Error('from the addon'), { code }))
    t.is(error.code as string | undefined, code, code)
    if (code !== 'ERR_OPTLAYER_INTERNAL') t.false(error instanceof InternalError, code)
  }
})

test('an unknown native code is internal, keeping the original as cause', (t) => {
  const original = Object.assign(new Error('boom'), { code: 'ERR_OPTLAYER_SOMETHING_NEW' })
  const error = fromNativeError(original)
  t.true(error instanceof InternalError)
  t.is(error.cause, original)
})
