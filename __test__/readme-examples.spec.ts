import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { runExample, runnableExamples, serveExample } from './helpers/readme'
import { startStandalone, type RedisStandalone } from './helpers/redis'

// Every runnable README block runs from the repository (the packed tarballs run the quick
// start in scripts/check-pack.sh).
const root = join(__dirname, '..')
/** The Redis address the examples are written against; replaced by a private server's. */
const exampleRedisUrl = 'redis://127.0.0.1:6379'

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
    const { ok, output } = await (example.service ? serveExample(code, root) : runExample(code, root))
    t.true(ok, `the example at README.md:${example.line} failed:\n${output}`)
  })
}
