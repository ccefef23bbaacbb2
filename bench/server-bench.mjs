/**
 * Through the local server (`npm start` = local/main.ts): latency of POST
 * /execute and of the Lambda Invoke API, and throughput at several client
 * concurrencies, one server per SANDBOX_CONCURRENCY value. Loopback only,
 * ephemeral ports, keep-alive agents, bounded counts and time caps.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { benchScale, summarize } from './stats.mjs';

export const FUNCTION_NAME = 'workflow-python-executor';
const INVOKE_PATH = `/2015-03-31/functions/${FUNCTION_NAME}/invocations`;
const READY_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 20_000;

function log(message) {
  process.stderr.write(`[bench:server] ${message}\n`);
}

/**
 * Starts local/main.ts as `npm start` does (tsx), without npm in between so
 * that the pid we hold is the server itself and SIGTERM reaches it directly.
 */
export async function startServer({ repoRoot, python, sandboxConcurrency, uidBase }) {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'local', 'main.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      SANDBOX_CONCURRENCY: String(sandboxConcurrency),
      SANDBOX_PYTHON: python,
      SANDBOX_UID_BASE: String(uidBase),
      RUNTIME_LOGS: '0',
      NODE_NO_WARNINGS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderrTail = '';
  child.stderr.on('data', (chunk) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const url = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      reject(new Error(`The local server did not print READY within ${READY_TIMEOUT_MS} ms; its stderr ended with:\n${stderrTail}`));
    }, READY_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const match = /^READY (http:\/\/127\.0\.0\.1:\d+)\s*$/m.exec(buffered);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The local server exited before READY (code ${code}, signal ${signal}); its stderr ended with:\n${stderrTail}`));
    });
  });
  const readyMs = performance.now() - started;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      log(`server pid ${child.pid} did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM; sending SIGKILL`);
      child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  return { url, readyMs, stop, pid: child.pid };
}

/** One POST; resolves with the elapsed milliseconds after checking the answer. */
function post(agent, url, path, body) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body);
    const started = performance.now();
    const request = http.request(
      `${url}${path}`,
      {
        method: 'POST',
        agent,
        // The Invoke API needs a tenant id in the default tenancy (perTenant), as Lambda does.
        headers: { 'content-type': 'application/json', 'content-length': payload.length, ...(path === INVOKE_PATH ? { 'x-amz-tenant-id': 'bench' } : {}) },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const elapsedMs = performance.now() - started;
          const text = Buffer.concat(chunks).toString();
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (response.statusCode !== 200 || parsed?.ok !== true) {
            reject(new Error(`POST ${path} answered HTTP ${response.statusCode}: ${text.slice(0, 300)}`));
            return;
          }
          resolve(elapsedMs);
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sequential requests spaced idleGapMs apart, so that each one finds a parked
 * worker, as sporadic calls from a workflow builder do. Back-to-back load is
 * what the throughput runs measure.
 */
export async function measureLatency({ url, path, body, count, capMs, idleGapMs }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 3; i += 1) {
      await post(agent, url, path, body);
      await sleep(idleGapMs);
    }
    const samples = [];
    const started = performance.now();
    while (samples.length < count && (samples.length < 5 || performance.now() - started < capMs)) {
      samples.push(await post(agent, url, path, body));
      await sleep(idleGapMs);
    }
    return { ...summarize(samples), requested: count, capped: samples.length < count, idleGapMs };
  } finally {
    agent.destroy();
  }
}

/** clientConcurrency loops share one request budget; executions/s over the whole window. */
export async function measureThroughput({ url, body, clientConcurrency, count, capMs }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clientConcurrency });
  try {
    await Promise.all(Array.from({ length: clientConcurrency }, () => post(agent, url, '/execute', body)));
    let issued = 0;
    let completed = 0;
    const errors = [];
    const samples = [];
    const started = performance.now();
    const loop = async () => {
      while (issued < count && performance.now() - started < capMs) {
        issued += 1;
        try {
          samples.push(await post(agent, url, '/execute', body));
          completed += 1;
        } catch (error) {
          errors.push(error.message);
        }
      }
    };
    await Promise.all(Array.from({ length: clientConcurrency }, loop));
    const elapsedS = (performance.now() - started) / 1000;
    return {
      clientConcurrency,
      completed,
      errors: errors.length,
      firstError: errors[0],
      elapsedS,
      executionsPerS: completed / elapsedS,
      latency: summarize(samples),
      capped: issued < count,
    };
  } finally {
    agent.destroy();
  }
}

/**
 * The whole server phase. Latency runs on the server with the default
 * SANDBOX_CONCURRENCY (2); throughput on every configured value.
 */
/** Latency series against another version of the repository (a git worktree at `ref`), for side-by-side numbers. */
async function baselineLatency({ repoRoot, python, requests, idleGapMs, uidBase, ref }) {
  const scale = benchScale();
  const tree = join(os.tmpdir(), `bench-baseline-${process.pid}`);
  const git = (...args) => {
    const result = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`);
  };
  git('worktree', 'add', '--detach', tree, ref);
  try {
    const installed = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, encoding: 'utf8' });
    if (installed.status !== 0) throw new Error(`npm ci in the baseline tree failed: ${installed.stderr.slice(-500)}`);
    log(`starting the local server of ${ref}`);
    const server = await startServer({ repoRoot: tree, python, sandboxConcurrency: 2, uidBase });
    try {
      const result = { ref, latency: {}, invoke: {} };
      for (const [name, body] of Object.entries(requests)) {
        result.latency[name] = await measureLatency({
          url: server.url, path: '/execute', body, count: Math.max(5, Math.round(150 * scale)), capMs: 8_000 * scale, idleGapMs,
        });
      }
      result.invoke.pandas = await measureLatency({
        url: server.url, path: INVOKE_PATH, body: requests.pandas, count: Math.max(5, Math.round(150 * scale)), capMs: 8_000 * scale, idleGapMs,
      });
      return result;
    } finally {
      await server.stop();
    }
  } finally {
    git('worktree', 'remove', '--force', tree);
  }
}

export async function serverPhase({ repoRoot, python, requests, idleGapMs, uidBase, baselineRef }) {
  const scale = benchScale();
  const results = { servers: [], latency: {}, invoke: {}, loadAverage: [] };
  const sandboxLevels = [1, 2, 4];
  const clientLevels = [1, 2, 4, 8];
  for (const [index, sandboxConcurrency] of sandboxLevels.entries()) {
    log(`starting the local server with SANDBOX_CONCURRENCY=${sandboxConcurrency}`);
    const server = await startServer({ repoRoot, python, sandboxConcurrency, uidBase: uidBase + index * 10 });
    const entry = { sandboxConcurrency, readyMs: server.readyMs, throughput: [] };
    results.servers.push(entry);
    try {
      if (sandboxConcurrency === 2) {
        for (const [name, body] of Object.entries(requests)) {
          log(`latency POST /execute, ${name}`);
          results.latency[name] = await measureLatency({
            url: server.url, path: '/execute', body, count: Math.max(5, Math.round(150 * scale)), capMs: 8_000 * scale, idleGapMs,
          });
        }
        log('latency Invoke API, pandas');
        results.invoke.pandas = await measureLatency({
          url: server.url, path: INVOKE_PATH, body: requests.pandas, count: Math.max(5, Math.round(150 * scale)), capMs: 8_000 * scale, idleGapMs,
        });
      }
      for (const clientConcurrency of clientLevels) {
        log(`throughput SANDBOX_CONCURRENCY=${sandboxConcurrency}, client concurrency ${clientConcurrency}`);
        entry.throughput.push(await measureThroughput({
          url: server.url, body: requests.pandas, clientConcurrency, count: Math.max(10, Math.round(400 * scale)), capMs: 3_500 * scale,
        }));
      }
      results.loadAverage.push({ phase: `server SANDBOX_CONCURRENCY=${sandboxConcurrency}`, loadAverage: os.loadavg() });
    } finally {
      await server.stop();
    }
  }
  if (baselineRef) {
    results.baseline = await baselineLatency({ repoRoot, python, requests, idleGapMs, uidBase: uidBase + 50, ref: baselineRef });
  }
  return results;
}
