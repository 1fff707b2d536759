import { execFile } from 'node:child_process'
import { join } from 'node:path'

import test from 'ava'

// The generated tables of the READMEs must be what their scripts make today of the sources
// (option tables), of benchmark/results/*.json (benchmark tables) and of
// benchmark/results/chaos.json (the reliability table). Each script's
// `--check` compares without writing and exits with 1 when a table is stale. The
// configuration table is checked in config.spec.ts, against the rendering function itself.
const root = join(__dirname, '..')

const checks = [
  { script: 'scripts/options-tables.js', fix: 'npm run options-tables' },
  { script: 'benchmark/readme-table.js', fix: 'node benchmark/readme-table.js' },
  { script: 'chaos/readme-table.ts', fix: 'npx tsx chaos/readme-table.ts' },
]

/** Runs `node <script> --check` in the repository; resolves with its exit code and output. */
function check(script: string): Promise<{ code: number; output: string }> {
  const args = script.endsWith('.ts') ? ['--import=tsx', script, '--check'] : [script, '--check']
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, output: `${stdout}${stderr}`.trim() })
    })
  })
}

for (const { script, fix } of checks) {
  test(`${script} finds its tables current`, async (t) => {
    const { code, output } = await check(script)
    t.is(code, 0, `stale or unreadable (run ${fix}):\n${output}`)
  })
}
