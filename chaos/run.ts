/**
 * `npm run chaos`: the reliability suite. Each scenario starts its own Redis, backends and gateway processes on
 * loopback, holds load on them while it injects faults, and reports requests failed and lost, values resurrected and
 * recovery times; a scenario whose checks fail makes the run fail.
 *
 * `--short` runs the bounded versions the test command runs; `--only a,b` picks scenarios by name. A run of the full
 * versions (not `--short`) writes `benchmark/results/chaos.json` and the README's reliability table; with `--only`,
 * the chosen scenarios' entries replace theirs and the others are kept.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

import { killDescendantsOnSignal } from './descendants'
import { RESULTS_FILE, resultsTable, updateReadme, type ChaosResults } from './readme-table'
import { round, type Scenario, type ScenarioResult } from './scenario'
import { backendHang } from './scenarios/backend-hang'
import { backendRestarts } from './scenarios/backend-restarts'
import { badCodecInput } from './scenarios/bad-codec-input'
import { badHttpNative, badHttpNode } from './scenarios/bad-http'
import { gatewayRestarts } from './scenarios/gateway-restarts'
import { nativeSafety } from './scenarios/native-safety'
import { overload } from './scenarios/overload'
import { redisFailover } from './scenarios/redis-failover'
import { redisHang } from './scenarios/redis-hang'
import { redisOutage } from './scenarios/redis-outage'
import { soak } from './scenarios/soak'

const SCENARIOS: readonly Scenario[] = [
  redisOutage,
  redisHang,
  redisFailover,
  backendRestarts,
  backendHang,
  gatewayRestarts,
  badHttpNode,
  badHttpNative,
  badCodecInput,
  overload,
  nativeSafety,
  soak,
]

async function main(): Promise<void> {
  killDescendantsOnSignal()
  const { values } = parseArgs({ options: { short: { type: 'boolean', default: false }, only: { type: 'string' } } })
  const only = values.only?.split(',')
  const unknown = only?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? []
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  const chosen = SCENARIOS.filter((s) =>
    only === undefined ? !values.short || s.inTestCommand : only.includes(s.name),
  )

  const results: ScenarioResult[] = []
  let failed = 0
  for (const scenario of chosen) {
    const started = performance.now()
    console.log(`== chaos: ${scenario.name}${values.short ? ' (short)' : ''}`)
    const result = { ...(await scenario.run({ short: values.short })), ranAt: new Date().toISOString() }
    results.push(result)
    for (const [name, value] of Object.entries(result.figures)) console.log(`   ${name}: ${value}`)
    for (const check of result.checks) {
      console.log(`   ${check.ok ? 'ok  ' : 'FAIL'} ${check.what}: ${check.detail}`)
      if (!check.ok) failed++
    }
    console.log(`   (${round((performance.now() - started) / 1000)} s)`)
  }

  console.log(`\n${resultsTable(results)}`)

  if (!values.short) {
    // A run of some scenarios replaces their entries and keeps the others' (each entry says when it ran).
    const previous =
      only !== undefined && existsSync(RESULTS_FILE)
        ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ChaosResults)
        : undefined
    const kept = (previous?.results ?? [])
      .filter((r) => !only?.includes(r.name))
      .map((r) => ({ ...r, ranAt: r.ranAt ?? previous?.timestamp }))
    const order = (r: ScenarioResult): number => SCENARIOS.findIndex((scenario) => scenario.name === r.name)
    const machine = { cpuModel: os.cpus()[0]?.model ?? 'unknown', nproc: os.cpus().length, node: process.version }
    const written: ChaosResults = {
      timestamp: new Date().toISOString(),
      machine,
      results: [...kept, ...results].sort((a, b) => order(a) - order(b)),
    }
    writeFileSync(RESULTS_FILE, `${JSON.stringify(written, null, 2)}\n`)
    console.log(`\nwritten: ${path.relative(process.cwd(), RESULTS_FILE)}`)
    if (await updateReadme()) console.log('README.md reliability table updated')
  }
  if (failed > 0) {
    console.error(`\nchaos: ${failed} check(s) failed`)
    process.exitCode = 1
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
