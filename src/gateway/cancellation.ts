/**
 * What cancels an upstream exchange: its client leaving, or the gateway closing. An
 * `AbortController` per request and undici's listener on its signal took about 3% of a
 * proxied request's CPU in profiles of the load test; the per-request form here is a flag
 * and a short list.
 * @internal
 */
export interface Cancellation {
  /** Whether it happened. */
  readonly aborted: boolean
  /** Calls `listener` once when it happens (never if it already did: check {@link aborted} first). */
  subscribe(listener: () => void): void
  /** Forgets a listener given to {@link subscribe}. */
  unsubscribe(listener: () => void): void
}

/** A client that may leave before its response ends: one per request. @internal */
export class ClientGone implements Cancellation {
  private listeners: (() => void)[] | undefined
  private happened = false

  get aborted(): boolean {
    return this.happened
  }

  /** The client left: every listener is called once. */
  abort(): void {
    if (this.happened) return
    this.happened = true
    const listeners = this.listeners
    this.listeners = undefined
    for (const listener of listeners ?? []) listener()
  }

  subscribe(listener: () => void): void {
    if (this.happened) return
    if (this.listeners === undefined) this.listeners = [listener]
    else this.listeners.push(listener)
  }

  unsubscribe(listener: () => void): void {
    const listeners = this.listeners
    if (listeners === undefined) return
    const at = listeners.indexOf(listener)
    if (at >= 0) listeners.splice(at, 1)
  }
}

/** `signal` as a {@link Cancellation}: for the long-lived signal of a gateway's close. @internal */
export function signalCancellation(signal: AbortSignal): Cancellation {
  return {
    get aborted() {
      return signal.aborted
    },
    subscribe: (listener) => signal.addEventListener('abort', listener, { once: true }),
    unsubscribe: (listener) => signal.removeEventListener('abort', listener),
  }
}
