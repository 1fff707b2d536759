import type { IncomingMessage, ServerResponse } from 'node:http'

import type { Cancellation } from './cancellation'
import type { RequestOrigin } from './forwarded-headers'
import type { GatewayOutcome } from './gateway-metrics'

/** One request through the gateway and what is known of it. @internal */
export interface RequestContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** The request's method, upper-case. */
  readonly method: string
  /** Who sent it. */
  readonly origin: RequestOrigin
  /** Its `X-Request-Id`. */
  readonly requestId: string
  /** Aborted when the client goes away before its response ended. */
  readonly gone: Cancellation
  /** How it ended, updated as it goes; counted when the response closes. */
  outcome: GatewayOutcome
}
