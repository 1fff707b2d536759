/**
 * A latency probe, run as its own process: one caller sending `GET <path>` to `<origin>` back to back, as a client
 * outside a surge would. Each `report` line on stdin ends the current window and starts the next; the window's
 * figures come back as `report <n> <json>` on stdout, `n` counting windows from 1.
 *
 * Why a process of its own: a load generator that offers twice what the gateway serves shares the machine's cores
 * with it, and its own event loop falls behind reading the answers it asked for; the probe's latencies are the
 * gateway's and the machine's, not the surge generator's queue.
 */
import { createInterface } from 'node:readline'

import { Load } from './load'

const [origin = '', target = '/'] = process.argv.slice(2)

function start(): Load {
  return Load.start({ origin, next: () => ({ method: 'GET', path: target }), callers: 1, connections: 1 })
}

let load = start()
let windows = 0
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'report') return
  const ended = load
  const n = ++windows
  load = start()
  void ended.stop().then((r) => {
    const figures = { ok: r.ok, shed: r.shed, failed: r.failed, p50: r.p50, p99: r.p99 }
    process.stdout.write(`report ${n} ${JSON.stringify(figures)}\n`)
  })
})
process.stdin.once('end', () => void load.stop().then(() => process.exit(0)))
process.stdout.write('probing\n')
