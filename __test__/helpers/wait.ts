import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Resolves once `condition` holds, polling every `intervalMs` (default 10 ms); rejects naming
 * `what` after `timeoutMs`. Specs wait on conditions, never on fixed sleeps, so a loaded
 * machine only makes them slower, not red.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}
