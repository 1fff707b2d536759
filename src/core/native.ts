/**
 * The native addon, loaded through the loader napi-rs generates (`index.js` at the
 * package root). Internal: the public API is the TypeScript layer.
 * @internal
 */
import * as binding from '../../index.js'

export const native = binding
