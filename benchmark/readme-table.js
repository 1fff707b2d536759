'use strict'

// Regenerates the tables of benchmark/README.md (between the bench:start/bench:end markers)
// from benchmark/results/*.json, so the README never quotes figures the results lack.
// `node benchmark/readme-table.js` rewrites them; `--check` only reports whether they are
// current (exit status 1 when stale).

const fs = require('node:fs')
const path = require('node:path')
const prettier = require('prettier')

const RESULTS_DIR = path.join(__dirname, 'results')
const README = path.join(__dirname, 'README.md')
const START = '<!-- bench:start -->'
const END = '<!-- bench:end -->'

const number = (value, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

function suiteTable(result) {
  const { machine } = result
  // A suite whose figures are not all ns/op per case (memory, throughput) writes its own
  // README table into its results as `readmeTable: { headers, align, rows }`.
  const table = result.readmeTable ?? caseTable(result.cases)
  const separator = table.align.map((align) => (align === 'right' ? '---:' : '---'))
  // Written by suites run since the reference operations were added; older results have none.
  const references =
    result.referenceOps === undefined
      ? ''
      : `; reference ops this run: Map.get ${result.referenceOps.mapGetNs} ns, empty N-API call ${result.referenceOps.napiCallNs} ns`
  return [
    `**${result.suite}** (${result.timestamp.slice(0, 10)}, ${machine.cpuModel} × ${machine.nproc}, Node ${machine.node}; ` +
      `\`benchmark/results/${result.suite}.json\`${references})`,
    '',
    `| ${table.headers.join(' | ')} |`,
    `| ${separator.join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n')
}

/**
 * One row per case, our primary contender; the JSON holds the variants. Suites with pure-JS
 * baselines (`pureJs` of a case: measured against ours in rounds of their own) get a column
 * of our ratio to it.
 */
function caseTable(cases) {
  const withBaselines = cases.some((c) => c.pureJs !== undefined)
  const rows = []
  for (const testCase of cases) {
    const contender = testCase.contenders.find((candidate) => candidate.role === 'ours')
    if (contender !== undefined) {
      const ratio = contender.vsReference
      const row = [
        testCase.name,
        contender.name,
        number(contender.nsPerOp),
        number(contender.mbPerSecond, 1),
        `${number(ratio.median, 2)}× ${testCase.reference} (${number(ratio.min, 2)}–${number(ratio.max, 2)})`,
      ]
      if (withBaselines) {
        const pureJs = testCase.pureJs
        row.push(pureJs === undefined ? '—' : `${number(pureJs.vsBaseline.median, 2)}× ${pureJs.baseline}`)
      }
      rows.push(row)
    }
  }
  const headers = ['case', 'contender', 'ns/op', 'MB/s', 'vs reference (median, min–max)']
  const align = ['left', 'left', 'right', 'right', 'left']
  if (withBaselines) {
    headers.push('vs pure-JS baseline (median)')
    align.push('left')
  }
  return { headers, align, rows }
}

function render() {
  // The reliability suite's results (chaos.json) have their own table, in the main README.
  const files = fs
    .readdirSync(RESULTS_DIR)
    .filter((name) => name.endsWith('.json') && name !== 'chaos.json')
    .sort()
  return files.map((name) => suiteTable(JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, name), 'utf8')))).join('\n\n')
}

/** benchmark/README.md with its tables regenerated: `{ current, next }`. */
async function regenerate() {
  const readme = fs.readFileSync(README, 'utf8')
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`benchmark/README.md lacks the ${START} … ${END} markers`)
  const spliced = `${readme.slice(0, start + START.length)}\n\n${render()}\n\n${readme.slice(end)}`
  // Formatted as `prettier --check` (part of npm test) expects it.
  const options = await prettier.resolveConfig(README)
  return { current: readme, next: await prettier.format(spliced, { ...options, filepath: README }) }
}

/** Rewrites the tables of benchmark/README.md; resolves true when they changed. */
async function updateReadme() {
  const { current, next } = await regenerate()
  if (next === current) return false
  fs.writeFileSync(README, next)
  return true
}

module.exports = { updateReadme }

if (require.main === module) {
  const check = process.argv.includes('--check')
  const done = check
    ? regenerate().then(({ current, next }) => {
        if (next !== current) {
          console.error('benchmark/README.md tables are stale: run node benchmark/readme-table.js')
          process.exitCode = 1
        }
      })
    : updateReadme().then((changed) =>
        console.log(changed ? 'benchmark/README.md tables updated' : 'benchmark/README.md tables already current'),
      )
  done.catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
