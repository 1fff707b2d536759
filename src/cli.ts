#!/usr/bin/env node
import cluster from 'node:cluster'

import { configFromEnv, type OptlayerConfig, type ProfilingConfig } from './config/env'
import { renderHelp } from './config/help'
import { OptlayerError } from './core/errors'
import { FleetReporter } from './monitoring/fleet'
import { startProfilingServer } from './monitoring/profiling'
import { ClusterPrimary } from './server/cluster'
import { serveFromConfig } from './server/serve-from-config'
import { VERSION } from './version'

const USAGE = `Usage: optlayer <command>

Commands:
  serve      run the gateway on $PORT (default 8080): POST /process and a caching,
             rate-limiting, compressing reverse proxy to $BACKENDS (an in-process
             demo backend when unset); admin routes (/metrics, /alerts, /dashboard)
             on 127.0.0.1:$ADMIN_PORT (default 8081); $WORKERS > 1 runs that many
             processes sharing the ports, with fleet-wide /metrics
  --version  print the version
  --help     print this help (also: optlayer serve --help)

${renderHelp()}`

async function serve(): Promise<void> {
  const config = configFromEnv()
  if (config.workers > 1 && cluster.isPrimary) return servePrimary(config)
  const running = await serveFromConfig(config)
  // A cluster worker serves the fleet's metrics, which the primary aggregates from every worker's pushes.
  const fleet = cluster.isWorker ? new FleetReporter(running.metrics).start() : undefined
  const who = cluster.isWorker ? ` (worker ${cluster.worker?.id ?? '?'}, pid ${process.pid})` : ''
  console.log(`optlayer ${VERSION} listening on ${running.url.origin}${who}`)
  console.log(`optlayer${who}: admin routes on ${running.adminUrl?.origin ?? '?'} (/metrics, /alerts, /dashboard)`)
  if (!cluster.isWorker || cluster.worker?.id === 1) for (const line of running.hints) console.log(line)
  const profiling = await startProfilingServer(profilingForThisProcess(config.profiling), { http: config.http })
  if (profiling !== undefined) console.log(`optlayer${who}: profiling on ${profiling.url.origin}/debug/pprof/`)
  const stop = (signal: NodeJS.Signals | 'disconnect'): void => {
    console.log(`optlayer${who}: ${signal} received, closing`)
    running.close().then(
      async () => {
        // After the in-flight requests: the last push to the primary counts them too.
        await fleet?.close()
        await profiling?.server.close()
        process.exit(0)
      },
      (err: unknown) => {
        console.error('optlayer: close failed:', err)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  // A worker whose primary is gone has no one to restart or stop it: it stops itself.
  if (cluster.isWorker) process.once('disconnect', () => stop('disconnect'))
}

/** Each cluster worker profiles on its own port: `PROFILING_PORT` + worker id − 1. */
function profilingForThisProcess(config: ProfilingConfig | undefined): ProfilingConfig | undefined {
  if (config === undefined || !cluster.isWorker || config.port === 0) return config
  return { ...config, port: config.port + (cluster.worker?.id ?? 1) - 1 }
}

/** `WORKERS` > 1: the primary forks the workers, aggregates their metrics and stops them on a signal. */
async function servePrimary(config: OptlayerConfig): Promise<void> {
  const primary = new ClusterPrimary({ workers: config.workers })
  console.log(`optlayer ${VERSION} primary (pid ${process.pid}) starting ${config.workers} workers`)
  const stop = (signal: NodeJS.Signals): void => {
    console.log(`optlayer: ${signal} received, closing`)
    void primary.close()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  primary.listening.then(
    (address) => {
      // A native front binds PORT in each worker itself (SO_REUSEPORT): the cluster module
      // sees only the listeners behind it, so the port is the configured one.
      const port = config.gateway.nativeFront === false ? address.port : config.port
      console.log(`optlayer ${VERSION}: ${config.workers} workers listening on port ${port}`)
    },
    () => {},
  )
  const code = await primary.stopped
  process.exit(code)
}

async function main(argv: string[]): Promise<number | undefined> {
  const [command] = argv
  switch (command) {
    case 'serve':
      if (argv[1] === '--help' || argv[1] === '-h') {
        console.log(USAGE)
        return 0
      }
      await serve()
      return undefined
    case '--version':
    case '-v':
      console.log(VERSION)
      return 0
    case undefined:
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      console.error(`optlayer: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code
  },
  (err: unknown) => {
    console.error(`optlayer: ${err instanceof OptlayerError ? `${err.code}: ${err.message}` : String(err)}`)
    process.exitCode = 1
    // A cluster worker's IPC channel would keep it alive: exit, so the primary sees it fail.
    if (cluster.isWorker) process.exit()
  },
)
