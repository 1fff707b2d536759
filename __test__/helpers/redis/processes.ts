import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { ensureRedisInstalled } from './install'
import { REDIS_HOST } from './ports'

/** Name prefix of the temporary directories under `os.tmpdir()`; the stale-directory sweep only looks at these. */
export const TEMP_DIR_PREFIX = 'optlayer-redis-'

const OWNER_FILE = 'owner.json'
// An owner-less directory younger than this may belong to a process that is creating it right now.
const ORPHAN_GRACE_MS = 60_000

const liveChildren = new Map<number, ChildProcess>()
const liveDirs = new Set<string>()

/** What a node directory's owner file records, so a later sweep can tell whether its owner and server still live. */
export interface OwnerRecord {
  ownerPid: number
  redisPid?: number
  port?: number
}

/** Creates a node directory owned by this process; the exit hook removes it unless {@link releaseDir} did. */
export async function createNodeDir(): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), TEMP_DIR_PREFIX))
  liveDirs.add(dir)
  writeOwner(dir, { ownerPid: process.pid })
  return dir
}

/** Removes a node directory created by {@link createNodeDir}. */
export async function releaseDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 })
  liveDirs.delete(dir)
}

/** Registers a redis-server child for the exit hook until it exits. */
export function trackChild(pid: number, child: ChildProcess): void {
  liveChildren.set(pid, child)
  child.once('exit', () => liveChildren.delete(pid))
}

/** Records who owns `dir` (and which server runs in it) for the stale-directory sweep. */
export function writeOwner(dir: string, record: OwnerRecord): void {
  fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify(record))
}

function readOwner(dir: string): OwnerRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'))
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { ownerPid, redisPid, port } = parsed as Record<string, unknown>
    if (typeof ownerPid !== 'number') return undefined
    return {
      ownerPid,
      ...(typeof redisPid === 'number' ? { redisPid } : {}),
      ...(typeof port === 'number' ? { port } : {}),
    }
  } catch {
    return undefined
  }
}

let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' listeners must be synchronous; SIGKILL also works on paused (SIGSTOPped) nodes.
  process.once('exit', () => {
    for (const pid of liveChildren.keys()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
      } catch {
        // nothing more can be done while exiting
      }
    }
  })
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function isHarnessRedis(pid: number, port: number): boolean {
  try {
    // The pid may have been reused since the owner file was written; redis-server sets its title to "host:port".
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    return cmdline.includes('redis-server') && cmdline.includes(`${REDIS_HOST}:${port}`)
  } catch {
    return false
  }
}

/**
 * Removes `optlayer-redis-*` directories left behind by test processes that died without running their exit hook
 * (SIGKILL, OOM, a killed CI job), first killing the redis-server recorded in each one if it still runs.
 * Directories whose owning process is still alive are left alone. Runs automatically before the first node starts.
 */
export function sweepStaleDirs(): void {
  const tmp = os.tmpdir()
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(tmp, { withFileTypes: true })
  } catch {
    return
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(TEMP_DIR_PREFIX)) continue
    const dir = path.join(tmp, entry.name)
    const owner = readOwner(dir)
    if (owner === undefined) {
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < ORPHAN_GRACE_MS) continue
      } catch {
        continue
      }
    } else if (isAlive(owner.ownerPid)) {
      continue
    }
    if (owner?.redisPid !== undefined && owner.port !== undefined && isHarnessRedis(owner.redisPid, owner.port)) {
      try {
        process.kill(owner.redisPid, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    } catch {
      // another sweeper may be removing it at the same time
    }
  }
}

let prepared = false

/** Before the first node of this process: the exit hook, the stale-directory sweep and the install check. */
export function prepare(): void {
  if (prepared) return
  installExitHook()
  sweepStaleDirs()
  ensureRedisInstalled()
  prepared = true
}
