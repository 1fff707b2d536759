import { spawnSync } from 'node:child_process'

/**
 * Bytes of each input a detach case hands to native code: above glibc's largest mmap
 * threshold (32 MiB), so freeing the detached backing store unmaps it and a read of the
 * old pointer faults instead of finding the old bytes still there.
 */
export const DETACH_INPUT_BYTES = 40 * 1024 * 1024

/** What a detach case's child printed and how it ended. */
export interface DetachOutcome {
  status: number | null
  signal: NodeJS.Signals | null
  /** The child's last stdout line, parsed; `undefined` when it printed none. */
  result: Record<string, unknown> | undefined
  stderr: string
}

/**
 * Runs `body` (plain JavaScript, inside an async function) in a child Node process with
 * `--expose-gc` and a one-thread libuv pool, so a segfault fails the assertion instead of
 * killing the test runner. In scope: `optlayer` (the built package), `crypto`, `zlib`,
 * `SIZE` ({@link DETACH_INPUT_BYTES}), `input()` (a fresh compressible Uint8Array of
 * `SIZE` bytes owning its own ArrayBuffer), `occupyPool()` (blocks the pool thread until
 * the function it returns is called, so a task queued meanwhile runs only then; that
 * function's promise settles once the pool is free again) and
 * `detachAndCollect(view)` (transfers `view`'s buffer away, drops the new owner and
 * collects it). `body` returns an object that becomes {@link DetachOutcome.result}.
 */
export function runDetachCase(body: string): DetachOutcome {
  const script = `
'use strict'
const optlayer = require(${JSON.stringify(require.resolve('optlayer'))})
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const { execFileSync } = require('node:child_process')
const SIZE = ${DETACH_INPUT_BYTES}
function input() {
  const bytes = new Uint8Array(SIZE)
  const line = Buffer.from('{"id":12345,"user":"user-42","tags":["alpha","beta"]}\\n')
  for (let i = 0; i < SIZE; i += line.length) bytes.set(line.subarray(0, SIZE - i), i)
  return bytes
}
// A FIFO opened read-write: a read of it blocks the one pool thread until release() writes.
const fifo = path.join(os.tmpdir(), 'optlayer-detach-' + process.pid)
execFileSync('mkfifo', [fifo])
const fifoFd = fs.openSync(fifo, 'r+')
fs.unlinkSync(fifo)
function occupyPool() {
  let release
  const done = new Promise((resolve) => (release = resolve))
  fs.read(fifoFd, Buffer.alloc(1), 0, 1, null, () => release())
  return () => {
    fs.writeSync(fifoFd, 'x')
    return done
  }
}
function detachAndCollect(view) {
  structuredClone(view.buffer, { transfer: [view.buffer] })
  if (view.byteLength !== 0) throw new Error('the buffer was not detached')
  globalThis.gc()
  globalThis.gc()
}
;(async () => {
${body}
})().then(
  (result) => console.log(JSON.stringify(result)),
  (err) => {
    console.error(err)
    process.exitCode = 1
  },
)
`
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  })
  const last = child.stdout.trim().split('\n').pop()
  return {
    status: child.status,
    signal: child.signal,
    result: last ? (JSON.parse(last) as Record<string, unknown>) : undefined,
    stderr: child.stderr,
  }
}
