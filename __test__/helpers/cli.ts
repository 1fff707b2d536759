import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'

const cli = join(__dirname, '..', '..', 'dist', 'cli.js')

/** A running `optlayer serve` child process. */
export interface CliRun {
  /** Resolves with the origin the server printed, or rejects if the process exits first. */
  listening: Promise<string>
  /** Resolves with the admin listener's origin the server printed, or rejects if the process exits first. */
  admin: Promise<string>
  exited: Promise<number | null>
  output: () => { stdout: string; stderr: string }
  kill: (signal: NodeJS.Signals) => void
}

/** Starts `optlayer serve` (the built CLI) with `env` over this process's environment. */
export function runCli(env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [cli, 'serve'], { env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  const printed = (pattern: RegExp): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const look = (): void => {
        const match = pattern.exec(stdout)?.[1]
        if (match === undefined) return
        child.stdout.off('data', look)
        resolve(match)
      }
      child.stdout.on('data', look)
      void exited.then(() => reject(new Error(`optlayer serve exited early: ${stderr}`)))
    })
  const listening = printed(/listening on (http:\/\/\S+)/)
  const admin = printed(/admin routes on (http:\/\/\S+)/)
  // A spec that waits only for the exit must not leave an unhandled rejection behind.
  for (const printedLine of [listening, admin]) printedLine.catch(() => {})
  return { listening, admin, exited, output: () => ({ stdout, stderr }), kill: (signal) => child.kill(signal) }
}
