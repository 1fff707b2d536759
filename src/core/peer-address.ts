import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/** The field a native front puts the client's address in; see `crates/front/src/relay.rs`. */
export const FRONT_PEER_HEADER = 'x-optlayer-peer'

/** Connections from a native front, whose {@link FRONT_PEER_HEADER} is believed. */
const fronted = new WeakSet<Socket>()

/** Marks `socket` as a native front's connection (its listener is reachable by the front alone). */
export function markFronted(socket: Socket): void {
  fronted.add(socket)
}

/** Whether `req` came through a native front. */
export function isFronted(req: IncomingMessage): boolean {
  return fronted.has(req.socket)
}

/**
 * The address of the peer that sent `req`: the client's as the native front saw it when
 * the request came through one, else the socket's remote address.
 */
export function peerAddress(req: IncomingMessage): string | undefined {
  if (fronted.has(req.socket)) {
    const given = req.headers[FRONT_PEER_HEADER]
    if (typeof given === 'string') return given
  }
  return req.socket.remoteAddress
}
