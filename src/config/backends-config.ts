import type { BackendConfig } from '../balancer/options'
import { ConfigError } from '../core/errors'
import { badValue, listValue, type Env } from './values'
import { variable } from './variables'

/**
 * `BACKENDS`: comma-separated `http(s)://` URLs, each with an optional `=weight`. A backend's
 * id is its URL as given, so each may appear once.
 */
export function backendsFromEnv(env: Env): BackendConfig[] {
  const spec = variable('BACKENDS')
  const items = listValue(env, 'BACKENDS') ?? []
  const seen = new Set<string>()
  return items.map((item) => {
    const equals = item.lastIndexOf('=')
    // A `=` inside a URL's query is not a weight: the weight is a number after the last `=`.
    const weighted = equals > 0 && /^\s*[\d.]+\s*$/.test(item.slice(equals + 1))
    const url = (weighted ? item.slice(0, equals) : item).trim()
    if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
      throw badValue(spec, 'comma-separated http:// or https:// URLs, each with an optional =weight', item)
    }
    if (seen.has(url)) throw new ConfigError(`BACKENDS lists ${url} twice`)
    seen.add(url)
    if (!weighted) return { id: url, url }
    const weight = Number(item.slice(equals + 1))
    const [min, max] = [spec.min ?? 0, spec.max ?? Infinity]
    if (!Number.isFinite(weight) || weight < min || weight > max) {
      throw badValue(spec, `weights between ${min} and ${max}`, item)
    }
    return { id: url, url, weight }
  })
}
