import { ConfigError } from '../core/errors'
import { variable, type VariableName, type VariableSpec } from './variables'

/** Environment variables by name, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>

/** Multipliers of the byte units: binary ones (`KiB`, `Ki`) are powers of 1024, decimal ones (`KB`, `K`) of 1000. */
const BYTE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
})

/**
 * A size in bytes: a whole number with an optional unit, case-insensitive: `B`; `K`/`KB`,
 * `M`/`MB`, `G`/`GB`, `T`/`TB` (powers of 1000, as in SI and Kubernetes); `Ki`/`KiB`, `Mi`/`MiB`,
 * `Gi`/`GiB`, `Ti`/`TiB` (powers of 1024). `64MiB` is 67108864, `64MB` and `64m` are 64000000.
 * Undefined when `text` is not such a size or not a whole number of bytes.
 */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text)
  const [, digits = '', suffix = ''] = match ?? []
  const unit = BYTE_UNITS[suffix.toLowerCase()]
  if (match === null || unit === undefined) return undefined
  const bytes = Number(digits) * unit
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** The value of `name`, trimmed; undefined when unset or empty. */
export function raw(env: Env, name: VariableName): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

/** The value of `name` or its table default. */
function valueOrDefault(env: Env, spec: VariableSpec): string | undefined {
  return raw(env, spec.name as VariableName) ?? spec.default
}

/** A {@link ConfigError} naming the variable, what it expects and what it got. */
export function badValue(spec: VariableSpec, expected: string, got: string): ConfigError {
  return new ConfigError(`${spec.name} must be ${expected}, got "${got}"`)
}

function range(spec: VariableSpec): [number, number] {
  return [spec.min ?? 0, spec.max ?? Number.MAX_SAFE_INTEGER]
}

/** `integer` and `duration-ms` variables: a whole number within the table's range. */
export function integerValue(env: Env, name: VariableName): number | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const [min, max] = range(spec)
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max) {
    const unit = spec.kind === 'duration-ms' ? ' (milliseconds)' : ''
    throw badValue(spec, `an integer between ${min} and ${max}${unit}`, text)
  }
  return value
}

/** `bytes` variables: a size (see {@link parseBytes}) within the table's range. */
export function bytesValue(env: Env, name: VariableName): number | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const [min, max] = range(spec)
  const value = parseBytes(text)
  if (value === undefined || value < min || value > max) {
    throw badValue(spec, `a size in bytes between ${min} and ${max} (e.g. 65536, 64KiB, 64MB)`, text)
  }
  return value
}

/** `boolean` variables: `true`/`1` or `false`/`0`, any case. */
export function booleanValue(env: Env, name: VariableName): boolean | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const lower = text.toLowerCase()
  if (lower === 'true' || lower === '1') return true
  if (lower === 'false' || lower === '0') return false
  throw badValue(spec, 'true or false', text)
}

/** `string` variables. */
export function stringValue(env: Env, name: VariableName): string | undefined {
  return valueOrDefault(env, variable(name))
}

/** `enum` variables: one of the table's choices, or an alias of one (returned as the choice). */
export function enumValue<T extends string>(env: Env, name: VariableName): T | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const value = spec.aliases?.[text.toLowerCase()] ?? text
  if (!spec.choices?.includes(value)) throw badValue(spec, `one of ${spec.choices?.join(', ')}`, text)
  return value as T
}

/** `url` variables: an absolute URL whose scheme is one of the table's choices. */
export function urlValue(env: Env, name: VariableName): URL | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const schemes = spec.choices ?? []
  const expected = `a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`
  if (!URL.canParse(text)) throw badValue(spec, expected, text)
  const url = new URL(text)
  if (!schemes.includes(url.protocol.slice(0, -1)) || url.hostname === '') throw badValue(spec, expected, text)
  return url
}

/** A `host:port` address. */
export interface HostPort {
  /** Host name or IP address (an IPv6 one without brackets). */
  host: string
  /** TCP port, 1 to 65535. */
  port: number
}

/** `host:port` (`[::1]:6379` for IPv6); undefined when `text` is not one. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^\s:/@?#[\]]+):(\d{1,5})$/i.exec(text)
  const [, host = '', portText = '0'] = match ?? []
  const port = Number(portText)
  if (match === null || port < 1 || port > 65_535 || !URL.canParse(`redis://${host}:${port}`)) return undefined
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port }
}

/** `host-port` variables. */
export function hostPortValue(env: Env, name: VariableName): HostPort | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const address = parseHostPort(text)
  if (address === undefined) throw badValue(spec, 'host:port (an IPv6 host in brackets)', text)
  return address
}

/** `list` variables: the comma-separated items, trimmed; empty items are refused. */
export function listValue(env: Env, name: VariableName): string[] | undefined {
  const spec = variable(name)
  const text = valueOrDefault(env, spec)
  if (text === undefined) return undefined
  const items = text.split(',').map((item) => item.trim())
  if (items.includes('')) throw badValue(spec, 'a comma-separated list without empty items', text)
  return items
}
