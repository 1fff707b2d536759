import { once } from 'node:events'

import test from 'ava'
import Redis from 'ioredis'
import { DURABLE_QUEUE_DEFAULTS } from 'optlayer'

import { DURABLE_SCRIPTS, queueKeys } from '../../src/queue/durable/scripts'
import { forkConsumers, open, uniqueName, url, useDurableQueueServer } from '../helpers/durable-queue'

useDurableQueueServer()

test.serial(
  'a claim whose reply was lost is no stall: maxStalls 1 still allows a consumer crash after it',
  async (t) => {
    t.timeout(60_000)
    const name = uniqueName()
    const producer = open({ name, consume: false })
    const handle = await producer.submit({ name: 'crash' })
    // A consumer's claim that Redis ran but whose reply never reached the consumer.
    const keys = queueKeys(DURABLE_QUEUE_DEFAULTS.prefix, name)
    const redis = new Redis(url())
    try {
      const [, claimed] = (await redis.eval(
        DURABLE_SCRIPTS.cycle.lua,
        8,
        ...keys.scriptKeys,
        keys.record,
        keys.channel,
        60_000, // keepFinishedMs
        1, // deadLetter
        1, // maxStalls
        'reply-lost', // consumer
        200, // visibilityTimeoutMs
        1, // claim one
        0, // no outcomes
      )) as [string[], string[], number[]]
      t.is(claimed[0], handle.id)
    } finally {
      redis.disconnect()
    }
    // This consumer gets the task once that claim expires, and crashes running it: one stall.
    const [crashing] = await forkConsumers(1, { name, concurrency: 1, visibilityTimeoutMs: 400, maxStalls: 1 })
    await once(crashing!, 'exit')
    open({ name, visibilityTimeoutMs: 400, maxStalls: 1, handlers: { crash: async () => 'survived' } })
    t.is(await handle.result, 'survived')
    // The lost claim counts no attempt; the crashed run does.
    t.like(await producer.getTask(handle.id), { state: 'succeeded', attempts: 2 })
  },
)
