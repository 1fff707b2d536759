import { AbortError } from '../core/errors'

/** `promise`, or an `AbortError` as soon as `signal` aborts (the work itself goes on for other callers). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(new AbortError('the cache call was aborted'))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError('the cache call was aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
