import { BlockList, isIP } from 'node:net'

import { invalidOption } from '../core/validate'

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`), as a dual-stack socket reports IPv4 peers. */
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i

/** `address` without an IPv4 mapping or an IPv6 zone, so it matches the CIDRs as written. */
function plain(address: string): string {
  const mapped = MAPPED_IPV4.exec(address)
  if (mapped?.[1] !== undefined) return mapped[1]
  const zone = address.indexOf('%')
  return zone === -1 ? address : address.slice(0, zone)
}

/**
 * The proxies whose `X-Forwarded-For` the gateway believes: a list of CIDRs (`10.0.0.0/8`,
 * `fd00::/8`) or single addresses, IPv4 and IPv6, matched with node:net's `BlockList`.
 */
export class TrustedProxies {
  private readonly list = new BlockList()
  /** Whether any range is trusted; with none, X-Forwarded-For is never read. */
  readonly empty: boolean
  /** The ranges as `address/prefix`, a single address with its full prefix. */
  readonly networks: readonly string[] = []

  /** @throws {InvalidArgumentError} naming the entry that is not an address or CIDR. */
  constructor(ranges: readonly string[]) {
    if (!Array.isArray(ranges)) throw invalidOption('trustedProxies', 'an array of CIDRs', ranges)
    ranges.forEach((range, i) => this.add(range, `trustedProxies[${i}]`))
    this.empty = ranges.length === 0
  }

  /** Whether `address` (as a socket reports it) is a trusted proxy. */
  trusts(address: string | undefined): boolean {
    if (this.empty || address === undefined) return false
    const bare = plain(address)
    const family = isIP(bare)
    if (family === 0) return false
    return this.list.check(bare, family === 6 ? 'ipv6' : 'ipv4')
  }

  /**
   * The client's address: the peer's own, unless the peer is trusted; then `X-Forwarded-For`
   * is walked from the right (the entry the nearest proxy added) past trusted hops, and the
   * first untrusted (or malformed) entry is the client. Entries left of it were written by
   * the client itself and are never believed.
   */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const own = peer === undefined ? 'unknown' : plain(peer)
    if (forwardedFor === undefined || !this.trusts(peer)) return own
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',')
    let client = own
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = (hops[i] ?? '').trim()
      if (hop === '') continue
      client = plain(hop)
      // A malformed entry cannot be a trusted proxy: it is where the walk stops.
      if (isIP(client) === 0 || !this.trusts(client)) return client
    }
    return client
  }

  private add(range: unknown, name: string): void {
    if (typeof range !== 'string') throw invalidOption(name, 'an IP address or CIDR', range)
    const [address = '', bits, extra] = range.split('/')
    const family = isIP(address)
    const max = family === 6 ? 128 : 32
    const prefix = bits === undefined ? max : Number(bits)
    if (family === 0 || extra !== undefined || !/^\d+$/.test(bits ?? String(max)) || prefix > max) {
      throw invalidOption(name, 'an IP address or CIDR', range)
    }
    this.list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4')
    ;(this.networks as string[]).push(`${address}/${prefix}`)
  }
}
