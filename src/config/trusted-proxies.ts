import { isIP } from 'node:net'

import { badValue, listValue, type Env } from './values'
import { variable } from './variables'

/** A network whose forwarding headers are believed: an address and a prefix length, as `BlockList.addSubnet` takes. */
export interface TrustedNetwork {
  /** The network's address. */
  address: string
  /** Prefix length: 32 (IPv4) or 128 (IPv6) for a single address. */
  prefix: number
  /** Its family, in `node:net`'s spelling. */
  family: 'ipv4' | 'ipv6'
}

/** `TRUSTED_PROXIES`: comma-separated IPs or CIDRs, IPv4 or IPv6. */
export function trustedProxiesFromEnv(env: Env): TrustedNetwork[] {
  const spec = variable('TRUSTED_PROXIES')
  return (listValue(env, 'TRUSTED_PROXIES') ?? []).map((item) => {
    const slash = item.indexOf('/')
    const address = slash === -1 ? item : item.slice(0, slash)
    const version = isIP(address)
    const bits = version === 6 ? 128 : 32
    const prefixText = slash === -1 ? String(bits) : item.slice(slash + 1)
    const prefix = Number(prefixText)
    if (version === 0 || !/^\d{1,3}$/.test(prefixText) || prefix > bits) {
      throw badValue(spec, 'comma-separated IPv4 or IPv6 addresses or CIDRs (10.0.0.0/8, fd00::/8)', item)
    }
    return { address, prefix, family: version === 6 ? 'ipv6' : 'ipv4' }
  })
}
