/**
 * Test harness that runs private, throw-away `redis-server` processes (a standalone server or a cluster) so specs can
 * exercise real outages and failovers without touching the machine's own Redis on 127.0.0.1:6379.
 *
 * Every node runs on a free port of 127.0.0.1 in its own `optlayer-redis-*` directory under `os.tmpdir()`, keeps
 * nothing on disk except cluster state, and is killed and removed by `stop()`, by the process `exit` hook, or, after a
 * hard kill of the test process, by the stale-directory sweep that runs when the next test process starts a node.
 * Redis itself is installed by `scripts/ensure-redis.sh`; the harness only checks that it is there.
 *
 * Modules: errors (error classes), install (binaries and the install check), ports (free-port reservation),
 * processes (owner files, exit hook, stale sweep), run (child commands and the polling wait), client (short-lived
 * queries), node (one server, standalone start), cluster (cluster start, health and failover waits).
 */
export { RedisHarnessError, RedisNotInstalledError, RedisTimeoutError } from './errors'
export { ensureRedisInstalled, REDIS_CLI_BIN, REDIS_SERVER_BIN } from './install'
export { REDIS_HOST } from './ports'
export { sweepStaleDirs, TEMP_DIR_PREFIX } from './processes'
export { RedisNode, startStandalone, type RedisStandalone } from './node'
export { RedisCluster, startCluster, type ClusterAddress, type ClusterNodeRole, type ClusterOptions } from './cluster'
