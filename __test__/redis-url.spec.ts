import test from 'ava'
import { DistributedCache, DurableTaskQueue, InvalidArgumentError, RateLimiter } from 'optlayer'

// A URL of another scheme used to be handed to ioredis, which reconnected to it for ever and
// kept the process alive: every place that takes a Redis URL refuses it when built instead.
const builders: [string, (url: string) => { close(): Promise<unknown> } | { stop(): Promise<unknown> }][] = [
  ['DistributedCache url', (url) => new DistributedCache({ redis: { url } })],
  ['DistributedCache nodes', (url) => new DistributedCache({ redis: { nodes: ['redis://127.0.0.1:1', url] } })],
  ['RateLimiter', (url) => new RateLimiter({ limit: 5, windowMs: 1000, redis: { url } })],
  ['DurableTaskQueue', (url) => new DurableTaskQueue({ name: 'urls', redis: { url }, handlers: {} })],
]

async function dispose(made: { close(): Promise<unknown> } | { stop(): Promise<unknown> }): Promise<void> {
  await ('close' in made ? made.close() : made.stop())
}

for (const [what, build] of builders) {
  for (const url of ['http://nope', 'nope', '127.0.0.1:6379', 'redis//127.0.0.1:1']) {
    test(`${what} refuses the Redis URL ${JSON.stringify(url)}`, async (t) => {
      let made: ReturnType<typeof build> | undefined
      const error = t.throws(() => (made = build(url)), { instanceOf: InvalidArgumentError })
      if (made !== undefined) await dispose(made)
      t.regex(error?.message ?? '', /redis:\/\/ or rediss:\/\//)
    })
  }
}

test('redis:// and rediss:// URLs are accepted', async (t) => {
  for (const url of ['redis://127.0.0.1:1', 'rediss://user:pass@127.0.0.1:1/2']) {
    const cache = new DistributedCache({ redis: { url }, logger: { warn: () => {} } })
    await cache.close()
  }
  t.pass()
})
