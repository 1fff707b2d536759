import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'

import test, { type ExecutionContext } from 'ava'
import type { Redis } from 'ioredis'

import { WriteCoalescer } from '../../src/redis/write-coalescer'

/** A connected socket to a server that keeps what it receives, and a count of the socket's writes to the kernel. */
async function socketPair(
  t: ExecutionContext,
): Promise<{ socket: Socket; writes: () => number; received: () => string }> {
  let received = ''
  const server = createServer((peer) => peer.on('data', (chunk: Buffer) => (received += chunk.toString())))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  t.teardown(() => {
    socket.destroy()
    server.close()
  })
  // `_write` and `_writev` are where a Writable hands data on: each is one write to the kernel.
  let writes = 0
  const inner = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
  for (const name of ['_write', '_writev'] as const) {
    const original = inner[name].bind(socket)
    inner[name] = (...args: unknown[]) => {
      writes++
      return original(...args)
    }
  }
  return { socket, writes: () => writes, received: () => received }
}

const asClient = (socket: Socket | undefined): Redis => ({ stream: socket }) as unknown as Redis

test('commands written in one tick leave in a write every flushEvery commands and one at the end of the tick', async (t) => {
  const { socket, writes, received } = await socketPair(t)
  const coalescer = new WriteCoalescer(16)
  for (let i = 0; i < 40; i++) {
    coalescer.beforeCommand(asClient(socket))
    socket.write(`command ${i}\n`)
  }
  t.is(writes(), 2, 'flushed after 16 and 32 commands')
  await new Promise((resolve) => process.nextTick(resolve))
  t.is(writes(), 3, 'the rest at the end of the tick')
  const expected = Array.from({ length: 40 }, (_, i) => `command ${i}\n`).join('')
  await new Promise<void>((resolve) => {
    const poll = (): void => void (received().length >= expected.length ? resolve() : setTimeout(poll, 5))
    poll()
  })
  t.is(received(), expected, 'everything arrives, in order')
})

test('without a coalescer each command is its own write (the cost it saves)', async (t) => {
  const { socket, writes } = await socketPair(t)
  for (let i = 0; i < 40; i++) socket.write(`command ${i}\n`)
  t.true(writes() >= 40)
})

test('a new socket within the tick flushes the old one first; a client without a socket (a Cluster) passes', async (t) => {
  const first = await socketPair(t)
  const second = await socketPair(t)
  const coalescer = new WriteCoalescer(16)
  coalescer.beforeCommand(asClient(first.socket))
  first.socket.write('a\n')
  t.is(first.writes(), 0)
  coalescer.beforeCommand(asClient(second.socket))
  second.socket.write('b\n')
  t.is(first.writes(), 1, 'the old socket flushed when the client moved to the new one')
  coalescer.beforeCommand(asClient(undefined))
  await new Promise((resolve) => process.nextTick(resolve))
  t.is(second.writes(), 1)
  // Uncorked: a later write goes at once.
  first.socket.write('c\n')
  t.is(first.writes(), 2)
})
