/**
 * `npm run bench`: measures the executor on this machine and writes
 * bench/REPORT.md from scratch.
 *
 *   1. cost (bench/cost_bench.py, Python, no HTTP): CPU per execution of the
 *      whole process tree in both profiles, side by side with a fresh
 *      interpreter per request, in-process exec() and the fork floor; init,
 *      memory, latency through a Runtime API emulator
 *   2. through the local server (bench/server-bench.mjs): latency, Invoke API,
 *      throughput matrix; with BENCH_BASELINE_REF=<git ref>, the same latency
 *      series against that version of the server, in the same run
 *   3. the report (bench/report.mjs)
 *
 * Environment: BENCH_PYTHON (else SANDBOX_PYTHON, else the Python `npm start`
 * finds: scripts/python.ts) must have numpy, pandas and matplotlib; BENCH_SCALE (0..1, default
 * 1) shrinks counts and caps for a smoke run; BENCH_OUT overrides the report
 * path; BENCH_PRIVATE_TMP=0 keeps the machine's /tmp. `--render` rebuilds the
 * report from the raw numbers of the last run (bench/REPORT.json).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderReport } from './report.mjs';
import { serverPhase } from './server-bench.mjs';
import { benchScale } from './stats.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(BENCH_DIR, '..');
// Dedicated uids: a Lambda-profile runtime kills every other process of its
// uid at start, so the bench must never share one with tests running at once.
const ENGINE_UID_BASE = 64100;
/** Pause between sequential latency requests: the runtime recycles (tens of ms) before the next. */
const IDLE_GAP_MS = 150;
const SERVER_UID_BASE = 64200;

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * As root on Linux, run the whole bench in a private mount namespace with an
 * empty tmpfs on /tmp: runtimes remove what executions leave in /tmp,
 * so other programs' temp files would both skew the numbers and be at risk,
 * and a fresh Lambda environment's /tmp is empty too.
 */
function reexecWithPrivateTmp() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || process.env.BENCH_IN_PRIVATE_TMP === '1'
    || process.env.BENCH_PRIVATE_TMP === '0') {
    return false;
  }
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    log('unshare --mount is not available; measuring with the machine\'s shared /tmp.');
    return false;
  }
  const result = spawnSync('unshare', [
    '--mount', '--propagation', 'private', 'sh', '-c',
    'mount -t tmpfs -o size=1g,mode=1777 tmpfs /tmp && exec "$@"', 'sh',
    process.execPath, fileURLToPath(import.meta.url),
  ], { stdio: 'inherit', env: { ...process.env, BENCH_IN_PRIVATE_TMP: '1' } });
  process.exit(result.status ?? 1);
}

/** The resolver `npm start` and the tests use (local/python.ts), with BENCH_PYTHON as SANDBOX_PYTHON when set. */
function choosePython() {
  const env = process.env.BENCH_PYTHON ? { ...process.env, SANDBOX_PYTHON: process.env.BENCH_PYTHON } : process.env;
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'python.ts')], { cwd: REPO_ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) {
    throw new Error('No Python for the benchmark: see the sentence above.');
  }
  return result.stdout.trim();
}

function firstLine(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.trim().split('\n')[0] : 'unknown';
}

function machineDetails(python) {
  const cpus = os.cpus();
  const memTotalGiB = os.totalmem() / 1024 ** 3;
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    logicalCores: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    distribution: existsSync('/etc/os-release')
      ? (/^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown')
      : 'unknown',
    memoryGiB: Math.round(memTotalGiB * 10) / 10,
    node: process.version,
    python: `${python}: ${firstLine(python, ['--version'])}`,
    privateTmp: process.env.BENCH_IN_PRIVATE_TMP === '1',
  };
}

function runCostBench(python, outPath) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [join(BENCH_DIR, 'cost_bench.py'), outPath], {
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_UID_BASE: String(ENGINE_UID_BASE), PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) {
        resolvePromise(JSON.parse(readFileSync(outPath, 'utf8')));
      } else {
        reject(new Error(`The cost benchmark (${python} bench/cost_bench.py) failed with code ${code}, signal ${signal}; see its output above.`));
      }
    });
  });
}

/** Requests the server phase sends: the same scripts as the cost phase. */
function serverRequests(python) {
  const probe = spawnSync(python, ['-c', 'import json, sys; sys.path.insert(0, "bench"); import cost_bench as c; print(json.dumps({"trivial": c.TRIVIAL, "pandas": c.PANDAS, "input": c.PANDAS_INPUT}))'], {
    cwd: REPO_ROOT, encoding: 'utf8',
  });
  const scripts = JSON.parse(probe.stdout);
  return {
    trivial: JSON.stringify({ script: scripts.trivial }),
    pandas: JSON.stringify({ script: scripts.pandas, input: scripts.input }),
  };
}

/** `node bench/run.mjs --render`: rebuild REPORT.md from REPORT.json without measuring again. */
function renderOnly() {
  const outPath = process.env.BENCH_OUT ? resolve(process.env.BENCH_OUT) : join(BENCH_DIR, 'REPORT.md');
  const data = JSON.parse(readFileSync(outPath.replace(/\.md$/, '.json'), 'utf8'));
  writeFileSync(outPath, renderReport({ ...data, startedAt: new Date(data.startedAt), scale: data.scale ?? 1 }));
  log(`re-rendered ${outPath}`);
}

async function main() {
  if (process.argv.includes('--render')) {
    renderOnly();
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new Error('npm run bench measures CPU per execution in cgroups and runs the Lambda profile\'s namespaces: run it as root.');
  }
  if (reexecWithPrivateTmp()) {
    return;
  }
  const startedAt = new Date();
  const started = performance.now();
  const python = choosePython();
  const machine = machineDetails(python);
  const loadAverage = [{ phase: 'start', loadAverage: os.loadavg() }];
  log(`python ${machine.python}; scale ${benchScale()}; load ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

  const scratch = mkdtempSync(join(os.tmpdir(), 'bench-'));
  let cost;
  try {
    cost = await runCostBench(python, join(scratch, 'cost.json'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  loadAverage.push({ phase: 'after the cost phase', loadAverage: os.loadavg() });

  const server = await serverPhase({
    repoRoot: REPO_ROOT, python, requests: serverRequests(python), idleGapMs: IDLE_GAP_MS, uidBase: SERVER_UID_BASE,
    baselineRef: process.env.BENCH_BASELINE_REF,
  });
  loadAverage.push(...server.loadAverage, { phase: 'end', loadAverage: os.loadavg() });

  const totalS = (performance.now() - started) / 1000;
  const data = { startedAt, totalS, machine, loadAverage, cost, server, scale: benchScale() };
  const outPath = process.env.BENCH_OUT ? resolve(process.env.BENCH_OUT) : join(BENCH_DIR, 'REPORT.md');
  writeFileSync(outPath, renderReport(data));
  writeFileSync(outPath.replace(/\.md$/, '.json'), `${JSON.stringify(data, null, 1)}\n`);
  log(`wrote ${outPath} in ${totalS.toFixed(0)} s`);
}

main().catch((error) => {
  process.stderr.write(`[bench] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
