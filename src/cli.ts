#!/usr/bin/env node
import { configFromEnv } from './config/env'
import { OptlayerError } from './errors'
import { RateLimiter } from './ratelimit/rate-limiter'
import { OptlayerServer } from './server/http-server'
import { VERSION } from './version'

const USAGE = `Usage: optlayer <command>

Commands:
  serve      run the HTTP server on $PORT (default 8080)
  --version  print the version
  --help     print this help

Configuration comes from environment variables; see the README.`

async function serve(): Promise<void> {
  const config = configFromEnv()
  const rateLimiter = config.rateLimit && new RateLimiter({ ...config.rateLimit, name: 'gateway' })
  const server = new OptlayerServer({ port: config.port, host: config.host, rateLimiter })
  const url = await server.listen()
  console.log(`optlayer ${VERSION} listening on ${url.origin}`)
  const stop = (signal: NodeJS.Signals): void => {
    console.log(`optlayer: ${signal} received, closing`)
    server.close().then(
      async () => {
        await rateLimiter?.close()
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
}

async function main(argv: string[]): Promise<number | undefined> {
  const [command] = argv
  switch (command) {
    case 'serve':
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
  },
)
