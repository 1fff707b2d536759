import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { startStandalone, type RedisStandalone } from './helpers/redis'

// The README's examples are what a new user copies first: the blocks marked ```ts runnable
// run as they are written, each in its own process, so an example that throws fails here.
const root = join(__dirname, '..')
const tsx = join(root, 'node_modules', '.bin', 'tsx')
/** The Redis address the examples are written against; replaced by a private server's. */
const exampleRedisUrl = 'redis://127.0.0.1:6379'
const timeoutMs = 60_000

interface Example {
  /** The line of the opening fence in README.md, counted from 1. */
  line: number
  code: string
}

function runnableExamples(markdown: string): Example[] {
  const examples: Example[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts runnable') continue
    const end = lines.findIndex((text, j) => j > i && text.trim() === '```')
    if (end === -1) throw new Error(`README.md:${i + 1}: the runnable block is not closed`)
    examples.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  return examples
}

/** Runs `code` as an ES module of the package's own directory, so `import 'optlayer'` resolves to it. */
function run(code: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      tsx,
      ['--input-type=module'],
      { cwd: root, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() }),
    )
    child.stdin?.end(code)
  })
}

const examples = runnableExamples(readFileSync(join(root, 'README.md'), 'utf8'))
let redis: RedisStandalone | undefined

test.before(async () => {
  if (examples.some((example) => example.code.includes(exampleRedisUrl))) redis = await startStandalone()
})

test.after.always(async () => {
  await redis?.stop()
})

test('the README marks runnable examples', (t) => {
  t.true(examples.length > 0)
})

for (const example of examples) {
  test.serial(`README.md:${example.line} runs`, async (t) => {
    const code = redis === undefined ? example.code : example.code.replaceAll(exampleRedisUrl, redis.url)
    const { ok, output } = await run(code)
    t.true(ok, `the example at README.md:${example.line} failed:\n${output}`)
  })
}
