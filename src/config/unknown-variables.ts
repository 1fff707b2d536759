import type { Env } from './values'
import { isVariableName } from './variables'

/**
 * Prefixes of optlayer's variables that other software rarely uses: a variable with one of them
 * that is not in the table is most likely a misspelling (`RATE_LIMIT_PER_MINUTES`). `HTTP_`,
 * `REDIS_` and the like are left out: `HTTP_PROXY` and other tools' `REDIS_HOST` are common in
 * the same environment, and warning about them would teach operators to ignore the warnings.
 */
const OWN_PREFIXES = Object.freeze([
  'OPTLAYER_',
  'ADMIN_',
  'RATE_LIMIT_',
  'CACHE_',
  'QUEUE_',
  'GATEWAY_',
  'PROFILING_',
  'UPSTREAM_',
  'LB_',
])

/** One warning per variable with one of optlayer's prefixes that optlayer does not read. */
export function unknownVariableWarnings(env: Env): string[] {
  return Object.keys(env)
    .filter((name) => !isVariableName(name) && OWN_PREFIXES.some((prefix) => name.startsWith(prefix)))
    .sort()
    .map((name) => `${name} is not an optlayer variable and is ignored (see optlayer serve --help)`)
}
