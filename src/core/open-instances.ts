/**
 * The instances of one component kind that are open now, for collectors that read them at
 * scrape time. Held weakly: an instance dropped without `close()` is still collected, and
 * leaves the set the next time it is read.
 * @internal
 */
export class OpenInstances<T extends object> {
  private readonly refs = new Set<WeakRef<T>>()
  private readonly byInstance = new WeakMap<T, WeakRef<T>>()

  add(instance: T): void {
    const ref = new WeakRef(instance)
    this.byInstance.set(instance, ref)
    this.refs.add(ref)
  }

  delete(instance: T): void {
    const ref = this.byInstance.get(instance)
    if (ref !== undefined) this.refs.delete(ref)
    this.byInstance.delete(instance)
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const ref of this.refs) {
      const instance = ref.deref()
      if (instance === undefined) this.refs.delete(ref)
      else yield instance
    }
  }
}
