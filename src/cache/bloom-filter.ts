import { fromNativeError } from '../core/errors'
import { native } from '../core/native'

/**
 * A bloom filter of string keys, off the V8 heap and lock-free: `has` is false only for
 * keys certainly never added, and true for others with the chosen false positive rate.
 *
 * @example
 * ```ts
 * const seen = new BloomFilter(1_000_000, 0.01)
 * seen.add('user:1')
 * seen.has('user:1') // true
 * seen.has('user:2') // false (99 % of the time for a key never added)
 * ```
 */
export class BloomFilter {
  private readonly filter: InstanceType<typeof native.NativeBloomFilter>

  /** Sized for `expectedItems` keys at `falsePositiveRate` (0 < rate < 1). */
  constructor(expectedItems: number, falsePositiveRate = 0.01) {
    try {
      this.filter = new native.NativeBloomFilter(expectedItems, falsePositiveRate)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /** Adds `key`; returns whether it was (probably) there already. */
  add(key: string): boolean {
    return this.filter.add(key)
  }

  /** False when `key` was certainly never added. */
  has(key: string): boolean {
    return this.filter.has(key)
  }

  /** Forgets every key. */
  clear(): void {
    this.filter.clear()
  }

  /** Keys added (an estimate once duplicates were added). */
  get size(): number {
    return this.filter.size
  }

  /** The false positive rate to expect at the current fill. */
  estimatedFalsePositiveRate(): number {
    return this.filter.estimatedFalsePositiveRate()
  }
}
