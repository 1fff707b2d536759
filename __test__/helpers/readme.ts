import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'

import ts from 'typescript'

// The README's examples are what a new user copies first: the blocks marked ```ts runnable
// run as they are written, each in its own process, so an example that throws fails a test.
// A block marked ```ts runnable service is a server: it must print `listening on <url>`,
// answer a request there twice alike, and exit cleanly on SIGTERM.

const timeoutMs = 60_000

/** Whether an example ran as it should, and what it printed. */
export interface ExampleOutcome {
  ok: boolean
  output: string
}

/** A runnable README block. */
export interface Example {
  /** The line of the opening fence in README.md, counted from 1. */
  line: number
  code: string
  /** A server, run until it answers and then stopped (```ts runnable service). */
  service: boolean
}

/** The blocks of `markdown` marked ```ts runnable or ```ts runnable service, in order. */
export function runnableExamples(markdown: string): Example[] {
  const examples: Example[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i]?.trim()
    if (fence !== '```ts runnable' && fence !== '```ts runnable service') continue
    const end = lines.findIndex((text, j) => j > i && text.trim() === '```')
    if (end === -1) throw new Error(`README.md:${i + 1}: the runnable block is not closed`)
    examples.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), service: fence.endsWith('service') })
    i = end
  }
  return examples
}

/** `code` as JavaScript: the types stripped, nothing checked (tsc checks the sources, not the README). */
function javascript(code: string): string {
  const options = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
  return ts.transpileModule(code, { compilerOptions: options }).outputText
}

/**
 * Runs `code` as an ES module in `cwd`, so that `import 'optlayer'` resolves to the package as
 * installed there (the repository itself, or an app that installed the packed tarballs).
 */
export function runExample(code: string, cwd: string): Promise<ExampleOutcome> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module'],
      { cwd, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() }),
    )
    child.stdin?.end(javascript(code))
  })
}

/**
 * Runs a server example in `cwd` on a free port: two requests must get the same 200 answer,
 * then SIGTERM must end it with 0.
 */
export async function serveExample(code: string, cwd: string): Promise<ExampleOutcome> {
  const child = spawn(process.execPath, ['--input-type=module'], { cwd, env: { ...process.env, PORT: '0' } })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  child.stdin.end(javascript(code))
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const found = /listening on (http:\/\/\S+)/.exec(output)
        if (found?.[1] !== undefined) resolve(found[1])
      })
      void exited.then(() => reject(new Error('exited before listening')))
    })
    const answers = []
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${url}/?id=7`)
      answers.push(`${response.status} ${await response.text()}`)
    }
    if (answers[0] !== answers[1] || !answers[0]?.startsWith('200 ')) {
      child.kill('SIGKILL')
      return { ok: false, output: `${output}\nanswers: ${JSON.stringify(answers)}` }
    }
    child.kill('SIGTERM')
    const [code] = await exited
    return { ok: code === 0, output: `${output}\nexit code ${code}` }
  } catch (err) {
    child.kill('SIGKILL')
    return { ok: false, output: `${output}\n${String(err)}` }
  } finally {
    clearTimeout(killer)
  }
}
