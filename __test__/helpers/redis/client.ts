import Redis from 'ioredis'

import { RedisHarnessError } from './errors'
import { assertHarnessPort, REDIS_HOST } from './ports'
import { noop } from './run'

const QUERY_TIMEOUT_MS = 1_000

/** Opens a short-lived ioredis connection that fails fast instead of retrying, runs `fn`, and always closes it. */
export async function withClient<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  assertHarnessPort(port)
  const client = new Redis({
    host: REDIS_HOST,
    port,
    lazyConnect: true,
    connectTimeout: QUERY_TIMEOUT_MS,
    commandTimeout: QUERY_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    retryStrategy: () => null,
  })
  // Failures reach the caller as rejected commands; the listener only stops ioredis logging "Unhandled error event".
  client.on('error', noop)
  try {
    await client.connect()
    return await fn(client)
  } finally {
    client.disconnect()
  }
}

/** A bulk-string reply as text. */
export function asText(value: unknown, what: string): string {
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new RedisHarnessError(`Unexpected reply to ${what}: ${JSON.stringify(value)}`)
}

/** The `field:value` lines of an `INFO` (or `CLUSTER INFO`) reply. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return fields
}
