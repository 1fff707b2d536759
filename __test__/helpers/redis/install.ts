import fs from 'node:fs'

import { RedisNotInstalledError } from './errors'

/** Absolute path of the `redis-server` binary the harness runs (Debian's `redis-server` package). */
export const REDIS_SERVER_BIN = '/usr/bin/redis-server'

/** Absolute path of the `redis-cli` binary used to create clusters (Debian's `redis-tools` package). */
export const REDIS_CLI_BIN = '/usr/bin/redis-cli'

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Makes sure `redis-server` and `redis-cli` exist, or throws {@link RedisNotInstalledError} naming the script that
 * installs them. The harness installs nothing itself: the install needs root and a lock shared with the other tool
 * installs, which `scripts/ensure-redis.sh` (run by the `tools` phase of `npm test`) takes care of.
 */
export function ensureRedisInstalled(): void {
  const missing = [REDIS_SERVER_BIN, REDIS_CLI_BIN].filter((file) => !isExecutable(file))
  if (missing.length === 0) return
  throw new RedisNotInstalledError(
    `${missing.join(' and ')} not found. The Redis tests need Redis 7: run \`bash scripts/ensure-redis.sh\` ` +
      '(as root it installs Debian’s redis-server package without starting a system server).',
  )
}
