import { ConfigError } from '../errors'

/** Configuration of optlayer read from the environment. */
export interface OptlayerConfig {
  /** TCP port of `optlayer serve` (`PORT`). @default 8080 */
  port: number
  /** Address to bind (`HOST`). @default '0.0.0.0' */
  host: string
}

/** Defaults used for every variable that is unset or empty. */
export const CONFIG_DEFAULTS: Readonly<OptlayerConfig> = Object.freeze({ port: 8080, host: '0.0.0.0' })

type Env = Readonly<Record<string, string | undefined>>

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`)
  }
  return value
}

/**
 * Reads and validates optlayer's environment variables. An invalid value throws a
 * {@link ConfigError} whose message names the variable.
 */
export function configFromEnv(env: Env = process.env): OptlayerConfig {
  return {
    port: integer(env, 'PORT', CONFIG_DEFAULTS.port, 0, 65535),
    host: read(env, 'HOST') ?? CONFIG_DEFAULTS.host,
  }
}
