/**
 * The runner's descendants, so that a runner stopped by a signal takes them along: the scenarios' Redis servers,
 * backends and gateways are children or grandchildren that would otherwise
 * outlive it and hold their ports. Linux `/proc`, like the rest of the suite.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** Every live process descended from `root`, read from each `/proc/<pid>/stat`'s parent field. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // gone since the listing
    }
    // `pid (comm) state ppid ...`: the command may hold spaces and parentheses, so read after the last ')'.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const siblings = children.get(parent) ?? []
    siblings.push(Number(entry))
    children.set(parent, siblings)
  }
  const found: number[] = []
  const pending = [root]
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child)
      pending.push(child)
    }
  }
  return found
}

/** On SIGINT or SIGTERM: SIGKILL every descendant (a frozen Redis ignores anything gentler), then exit. */
export function killDescendantsOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const pid of descendantsOf(process.pid)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
    })
  }
}
