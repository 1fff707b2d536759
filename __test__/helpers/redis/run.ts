import { execFile } from 'node:child_process'

import { waitFor } from '../wait'
import { RedisHarnessError, RedisTimeoutError } from './errors'

const POLL_INTERVAL_MS = 100

/** For listeners and catch handlers whose failure is reported another way. */
export function noop(): void {}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The last `count` lines of `text`. */
export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n')
}

/** What a command that {@link run} ran printed. */
export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs `file` to completion (SIGKILLed after `timeoutMs`); rejects with the tail of its output if it fails. */
export function run(
  file: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        env: options.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr })
          return
        }
        const output = lastLines(`${stdout}\n${stderr}`, 30)
        reject(
          new RedisHarnessError(`\`${file} ${args.join(' ')}\` failed: ${error.message}\n${output}`, { cause: error }),
        )
      },
    )
  })
}

/** Resolves to true if `promise` settles within `ms`, false otherwise; never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Options of {@link waitUntil}. */
export interface WaitUntilOptions {
  /** Appended to the timeout error (e.g. log tails). */
  details?: () => string
  /** Pause between probes. Default 100 ms. */
  intervalMs?: number
}

/**
 * The harness's only polling wait: {@link waitFor} with diagnostics. Polls `probe` until it returns true or
 * `timeoutMs` passes. The probe returns a description of what is still wrong (or throws, which counts the same), and
 * the last one ends up in the {@link RedisTimeoutError} together with `details()`.
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<true | string>,
  options: WaitUntilOptions = {},
): Promise<void> {
  let problem = 'not checked yet'
  const holds = async (): Promise<boolean> => {
    try {
      const result = await probe()
      if (result === true) return true
      problem = result
    } catch (error) {
      problem = errorMessage(error)
    }
    return false
  }
  try {
    await waitFor(what, holds, timeoutMs, options.intervalMs ?? POLL_INTERVAL_MS)
  } catch (error) {
    const extra = options.details === undefined ? '' : `\n${options.details()}`
    throw new RedisTimeoutError(
      `Timed out after ${timeoutMs} ms waiting for ${what}; last problem: ${problem}${extra}`,
      {
        cause: error,
      },
    )
  }
}
