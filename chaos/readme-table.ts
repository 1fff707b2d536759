/**
 * The README's reliability table, between the chaos:start/chaos:end markers, made from `benchmark/results/chaos.json`
 * so the README never quotes figures the results lack. `tsx chaos/readme-table.ts` rewrites it; `--check` only
 * reports whether it is current (exit status 1 when stale). A full `npm run chaos` rewrites it too.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import prettier from 'prettier'

import type { ScenarioResult } from './scenario'

const ROOT = path.join(__dirname, '..')
const README = path.join(ROOT, 'README.md')
/** Where a full run writes its results. */
export const RESULTS_FILE = path.join(ROOT, 'benchmark', 'results', 'chaos.json')
const START = '<!-- chaos:start -->'
const END = '<!-- chaos:end -->'

/** What `benchmark/results/chaos.json` holds. */
export interface ChaosResults {
  timestamp: string
  machine: { cpuModel: string; nproc: number; node: string }
  results: ScenarioResult[]
}

/** One markdown row per scenario, under its header: the README's table, and what a run prints at its end. */
export function resultsTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => {
    const failedChecks = r.checks.filter((check) => !check.ok).map((check) => check.what)
    const recovery = r.recoveryMs === undefined ? '–' : `${Math.round(r.recoveryMs)} ms`
    const verdict = failedChecks.length === 0 ? 'all met' : `missed: ${failedChecks.join('; ')}`
    return `| ${r.name} | ${r.load} | ${r.faults} | ${r.requests} | ${r.failed} | ${r.lost} | ${r.resurrected} | ${recovery} | ${verdict} |`
  })
  return [
    '| scenario | load held | faults injected | requests | failed | lost | resurrected | recovery | checks |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n')
}

function table({ timestamp, machine, results }: ChaosResults): string {
  const checks = results.flatMap((result) => result.checks)
  const passed = checks.filter((check) => check.ok).length
  return [
    `${timestamp.slice(0, 10)}, ${machine.cpuModel} × ${machine.nproc}, Node ${machine.node}: ${passed} of ${checks.length} checks met (\`benchmark/results/chaos.json\` has every figure and when each scenario ran).`,
    '',
    resultsTable(results),
  ].join('\n')
}

async function regenerate(): Promise<{ current: string; next: string }> {
  const readme = readFileSync(README, 'utf8')
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} … ${END} markers`)
  const results = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ChaosResults
  const spliced = `${readme.slice(0, start + START.length)}\n\n${table(results)}\n\n${readme.slice(end)}`
  const options = await prettier.resolveConfig(README)
  return { current: readme, next: await prettier.format(spliced, { ...options, filepath: README }) }
}

/** Rewrites the README's table from the results; resolves true when it changed. */
export async function updateReadme(): Promise<boolean> {
  const { current, next } = await regenerate()
  if (next !== current) writeFileSync(README, next)
  return next !== current
}

if (require.main === module) {
  const done = process.argv.includes('--check')
    ? regenerate().then(({ current, next }) => {
        if (next !== current) {
          console.error('README.md reliability table is stale: run npx tsx chaos/readme-table.ts')
          process.exitCode = 1
        }
      })
    : updateReadme().then((changed) =>
        console.log(changed ? 'README.md table updated' : 'README.md table already current'),
      )
  done.catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
