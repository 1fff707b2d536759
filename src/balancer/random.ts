/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): uniform numbers in [0, 1) from a 32-bit state kept in an Int32Array.
 *
 * Why not Math.random: called through a function-valued option, as every picker must call it, V8 does not inline it
 * and boxes each result in a new heap number, which is per-pick garbage. This generator's state never leaves the
 * typed array and its code inlines, so picks stay allocation-free. Not for anything that needs unpredictability.
 * @internal
 */
export function createFastRandom(seed: number): () => number {
  const state = new Int32Array([seed | 0])
  return () => {
    const s = (state[0]! + 0x6d2b79f5) | 0
    state[0] = s
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The default random source of every balancer, seeded once per process. @internal */
export const fastRandom = createFastRandom(Math.floor(Math.random() * 2 ** 32))
