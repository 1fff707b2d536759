'use strict'

// Entry of `npm run bench`: runs every suite, or only those named (`node benchmark/run.js zstd`).
// Suites run one after another in this process; each writes benchmark/results/<suite>.json.

const { loadOptions } = require('./harness')
const { updateReadme } = require('./readme-table')

const SUITES = [
  'zstd',
  'codecs',
  'ratelimit',
  'pool',
  'balancer',
  'metrics',
  'cache',
  'cache-hit-ratio',
  'cache-gc',
  'queue',
  'queue-durable',
]

async function main(names) {
  const unknown = names.filter((name) => !SUITES.includes(name))
  if (unknown.length > 0) {
    console.error(`unknown suite ${unknown.join(', ')}; known suites: ${SUITES.join(', ')}`)
    process.exitCode = 2
    return
  }
  const options = loadOptions()
  for (const name of names.length > 0 ? names : SUITES) {
    await require(`./${name}`).run(options)
  }
  if (await updateReadme()) console.log('benchmark/README.md tables updated')
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err)
  process.exitCode = 1
})
