'use strict'

// The CPU task of the worker-thread case, shared by optlayer's TaskQueue (a handler by name)
// and piscina (the module's default export): FNV-1a over a small byte array, a few µs of work.

function fnv({ bytes, rounds }) {
  let hash = 0x811c9dc5
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < bytes.length; i++) {
      hash ^= bytes[i]
      hash = Math.imul(hash, 0x01000193) >>> 0
    }
  }
  return hash
}

module.exports = fnv
module.exports.fnv = fnv
