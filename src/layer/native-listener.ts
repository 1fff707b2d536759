import type { RequestListener } from 'node:http'

import { InvalidArgumentError } from '../core/errors'
import { sendJson } from '../core/http-listener'
import type { NativeFront, NativeFrontOptions, NativeProcessPath } from '../front/native-front'
import type { MetricsCollector } from '../monitoring/metrics-collector'
import { OptlayerServer, type ReadinessCheck } from '../server/http-server'
import type { ResultPublisher } from './front-results'

/** Options of `OptimizationLayer.listenNative`. */
export interface LayerNativeListenOptions extends NativeFrontOptions {
  /** TCP port; 0 picks a free one. @default 8080 */
  port?: number
  /** The IP address to listen on. @default '0.0.0.0' */
  host?: string
  /** The path the layer's handler answers; every other path but the probes is a 404. @default '/process' */
  path?: string
}

/** A layer served behind the native front: `OptimizationLayer.listenNative`. */
export interface LayerNativeListener {
  /** Where it listens. */
  readonly url: URL
  /** The front: its counters (`stats()`), among them the requests it answered itself. */
  readonly front: NativeFront
  /** Stops accepting, lets the requests in flight finish and closes the listener (not the layer). */
  close(): Promise<void>
}

/** What the listener needs of its layer. @internal */
export interface NativelyServedLayer {
  readonly metrics: MetricsCollector
  handler(): RequestListener
  ready(): ReadinessCheck
  nativeProcessPath(path: string): NativeProcessPath | undefined
  attachFront(front: ResultPublisher): void
}

/**
 * Serves `layer`'s handler at `options.path` behind the native front, with `/health` and
 * `/ready`: the front answers requests equal to ones the handler answered while their results
 * stay in the layer cache's L2 store (see `nativeProcessPath`), and relays the rest.
 * @throws {InvalidArgumentError} a bad path or front option.
 * @internal
 */
export async function listenNative(
  layer: NativelyServedLayer,
  options: LayerNativeListenOptions = {},
): Promise<LayerNativeListener> {
  const { port = 8080, host = '0.0.0.0', path = '/process', ...frontOptions } = options
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError(`invalid path: expected a path starting with '/', got ${String(path)}`)
  }
  const handler = layer.handler()
  const placement = layer.nativeProcessPath(path)
  const server = new OptlayerServer({
    port,
    host,
    admin: false,
    dashboard: false,
    metrics: layer.metrics,
    fallback: (req, res) =>
      (req.url ?? '/').split('?', 1)[0] === path ? handler(req, res) : sendJson(res, 404, { error: 'not found' }),
    ready: () => layer.ready(),
    nativeFront: { ...frontOptions, process: placement },
  })
  const url = await server.listen()
  const front = server.nativeFront as NativeFront
  // Without a placement (an access log, no L2, a limiter deciding elsewhere) it relays everything.
  if (placement !== undefined) layer.attachFront(front)
  return { url, front, close: () => server.close() }
}
