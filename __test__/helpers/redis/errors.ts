/** Base class of the harness's own errors (invalid options are `RangeError`s; failed queries pass ioredis errors on). */
export class RedisHarnessError extends Error {
  override name = 'RedisHarnessError'
}

/** `redis-server` or `redis-cli` is missing (`bash scripts/ensure-redis.sh` installs them). */
export class RedisNotInstalledError extends RedisHarnessError {
  override name = 'RedisNotInstalledError'
}

/** A bounded wait ran out (startup, cluster formation, failover, process exit...). */
export class RedisTimeoutError extends RedisHarnessError {
  override name = 'RedisTimeoutError'
}

/** Internal: the chosen port was taken between probing and redis-server binding it; the caller retries. */
export class PortInUseError extends RedisHarnessError {
  override name = 'PortInUseError'
}
