import { negotiateEncoding, parseAcceptEncoding } from '../compress/accept-encoding'
import { chooseCompression } from '../compress/choose'
import { Compressor } from '../compress/compressor'

/** A response body as sent: its bytes and their `Content-Encoding` (undefined: identity). @internal */
export interface EncodedBody {
  body: Buffer
  encoding: string | undefined
}

/**
 * Whether `Accept-Encoding` allows the body as it is (RFC 9110 §12.5.3): yes unless
 * `identity;q=0`, or `*;q=0` without an `identity` entry of its own.
 */
function identityAccepted(header: string | undefined): boolean {
  const accepted = parseAcceptEncoding(header)
  const identity = accepted.find((a) => a.coding === 'identity')
  if (identity !== undefined) return identity.q > 0
  const wildcard = accepted.find((a) => a.coding === '*')
  return wildcard === undefined || wildcard.q > 0
}

/**
 * Whether some response can be sent under `Accept-Encoding`: identity, or a coding this layer
 * produces. When not, the answer is 406. @internal
 */
export function acceptsSomeEncoding(header: string | undefined): boolean {
  return identityAccepted(header) || negotiateEncoding(header) !== undefined
}

/**
 * What decides the coding of a body under `header`: the best accepted coding and whether
 * identity is allowed. Equal variants get equal encodings of equal bodies. @internal
 */
export function encodingVariant(header: string | undefined): string {
  return `${negotiateEncoding(header) ?? 'identity'}${identityAccepted(header) ? '' : ';no-identity'}`
}

/**
 * `body` encoded for a request's `Accept-Encoding`: compressed with the best accepted coding
 * (zstd, br, gzip, deflate; q-values and the server's preference decide) when it is at least
 * `minBytes` and looks compressible, else as it is. When the client refuses identity, a small
 * or incompressible body is compressed anyway (check {@link acceptsSomeEncoding} first).
 * Bodies above 16 KiB compress on the libuv pool.
 * @internal
 */
export async function encodeForClient(
  body: Buffer,
  acceptEncoding: string | undefined,
  minBytes: number,
): Promise<EncodedBody> {
  const identity = identityAccepted(acceptEncoding)
  // Without identity, any accepted coding will do: the size threshold and ratio no longer apply.
  const choice = chooseCompression(body, {
    accept: acceptEncoding ?? '',
    minBytes: identity ? minBytes : 0,
    ...(identity ? {} : { maxRatio: Infinity }),
  })
  if (choice === undefined) return { body, encoding: undefined }
  const compressed = await Compressor.compressAsync(body, choice.algorithm, { level: choice.level })
  return { body: compressed, encoding: choice.algorithm }
}
