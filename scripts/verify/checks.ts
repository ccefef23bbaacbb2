/**
 * The facts verify-deployment checks. Each check returns report lines marked
 * verified (checked and true), failed (checked and false) or not verified
 * (could not be checked here, with the reason); nothing is marked verified
 * that was not observed in this run.
 */
import {
  CREDENTIALS_PROBE,
  dnsProbe,
  ENVIRONMENT_FINGERPRINT_PROBE,
  otherBucketProbe,
  RUNTIME_API_PROBE,
  tcpProbe,
} from './probes';
import { TIMING_BUDGET } from '../../contract/timing';
import { parseReportLines, type ReportLine, type RuntimeProcess, type Target } from './targets';

export type FactStatus = 'verified' | 'failed' | 'not verified';

export interface Fact {
  readonly fact: string;
  readonly status: FactStatus;
  readonly detail: string;
}

/** Layers DESIGN section 5 expects in Lambda and locally; the others depend on what the host permits. */
const REQUIRED_LAYERS = ['worker_process', 'rlimits', 'audit_hook', 'scrubbed_environment', 'fresh_workdir', 'redaction'];
/** Lambda's init phase limit. */
const INIT_LIMIT_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;
/** Health events sent to the executor at once (at most this many environments start for it). */
const DIRECT_INVOKES = 3;
const DIRECT_INVOKE_TENANT = 'verify-deployment';

const fact = (name: string, status: FactStatus, detail: string): Fact => ({ fact: name, status, detail });

interface Context {
  readonly target: Target;
  /** REPORT lines of this run's direct invocations. */
  readonly tails: ReportLine[];
  health?: Record<string, any>;
}

/**
 * Health events straight to the executor, a few at once: an environment that
 * has not served yet reports its init duration in its first REPORT line, and
 * concurrent events reach more than the one warm environment.
 */
async function directInvoke(context: Context): Promise<Fact[]> {
  // A function in tenant isolation mode refuses invokes without a tenant id; these run in a tenant of their own.
  const tenantId = (await context.target.tenantIsolationMode()) === undefined ? undefined : DIRECT_INVOKE_TENANT;
  const answers = await Promise.all(Array.from({ length: DIRECT_INVOKES }, () => context.target.invokeExecutor({ action: 'health' }, tenantId)));
  for (const answer of answers) context.tails.push(...parseReportLines(answer.logTail));
  const wrong = answers.find((answer) => {
    const payload = answer.payload as { ok?: unknown } | null;
    return answer.functionError !== undefined || payload === null || typeof payload !== 'object' || payload.ok !== true;
  });
  if (wrong === undefined) {
    return [fact('the executor answers a direct invoke (Lambda Invoke API)', 'verified', `${DIRECT_INVOKES} health events answered ok`)];
  }
  return [fact('the executor answers a direct invoke (Lambda Invoke API)', 'failed', `answer: ${JSON.stringify(wrong.payload).slice(0, 300)}`)];
}

async function apiHealth(context: Context): Promise<Fact[]> {
  const answer = await context.target.api('GET', '/healthz');
  if (answer.status !== 200 || answer.body.status !== 'ok') {
    return [fact('GET /healthz answers ok through the API', 'failed', `HTTP ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`)];
  }
  context.health = answer.body;
  const executor = answer.body.executor as { python?: string; preloads?: Record<string, { loaded?: boolean }>; initMs?: number };
  const preloads = Object.entries(executor.preloads ?? {});
  const missing = preloads.filter(([, state]) => !state.loaded).map(([name]) => name);
  const facts = [fact('GET /healthz answers ok through the API', 'verified', `Python ${executor.python ?? '?'}, executor init ${executor.initMs ?? '?'} ms`)];
  facts.push(
    missing.length === 0
      ? fact('every preload is importable', 'verified', preloads.map(([name]) => name).join(', ') || 'none configured')
      : fact('every preload is importable', 'failed', `missing: ${missing.join(', ')}`),
  );
  return facts;
}

function isolationLayers(context: Context): Fact[] {
  const layers = (context.health?.executor?.layers ?? {}) as Record<string, { active?: boolean; detail?: string }>;
  if (Object.keys(layers).length === 0) {
    return [fact('isolation layers as probed by the executor', 'not verified', 'the health answer had no layers')];
  }
  return Object.entries(layers).map(([name, layer]) => {
    const where = context.target.kind === 'deployed' ? 'in Lambda' : 'here';
    if (layer.active === true) return fact(`layer ${name} active ${where}`, 'verified', layer.detail ?? '');
    // A layer the host does not permit is no protection, but not a fault either.
    const status: FactStatus = REQUIRED_LAYERS.includes(name) ? 'failed' : 'not verified';
    return fact(`layer ${name} active ${where}`, status, `off: ${layer.detail ?? 'no reason given'}`);
  });
}

async function initAndMemory(context: Context): Promise<Fact[]> {
  const logged = await context.target.loggedReportLines();
  const lines = [...context.tails, ...(logged?.lines ?? [])];
  const source = logged?.source ?? "this run's direct invokes (log tails)";
  const facts: Fact[] = [];

  const inits = lines.flatMap((line) => (line.initDurationMs === undefined ? [] : [line.initDurationMs]));
  if (inits.length === 0) {
    facts.push(fact(`init duration within Lambda's ${INIT_LIMIT_MS} ms`, 'not verified', `no REPORT line with Init Duration in ${source}: no cold start was logged`));
  } else {
    const longest = Math.max(...inits);
    facts.push(
      fact(
        `init duration within Lambda's ${INIT_LIMIT_MS} ms`,
        longest < INIT_LIMIT_MS ? 'verified' : 'failed',
        `${inits.length} cold start(s), longest ${longest.toFixed(0)} ms, median ${median(inits).toFixed(0)} ms (${source})`,
      ),
    );
    const invoker = context.health?.invoker as { clientTimeoutMs?: number; limits?: { maxTimeoutMs?: number } } | undefined;
    if (context.target.kind === 'deployed' && invoker?.clientTimeoutMs !== undefined && invoker.limits?.maxTimeoutMs !== undefined) {
      const needed = longest + invoker.limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs;
      facts.push(
        fact(
          "a cold start plus the largest timeoutMs fits the API's wait",
          needed <= invoker.clientTimeoutMs ? 'verified' : 'failed',
          `${longest.toFixed(0)} ms init + ${invoker.limits.maxTimeoutMs} ms + ${TIMING_BUDGET.executorHeadroomMs} ms against ${invoker.clientTimeoutMs} ms` +
            (needed <= invoker.clientTimeoutMs ? '' : `: requests near the maximum timeoutMs can get 504 on a cold start; lower maxRequestTimeoutMs by ${needed - invoker.clientTimeoutMs} ms`),
        ),
      );
    }
  }

  const memory = lines.filter((line) => line.maxMemoryUsedMb !== undefined && line.memorySizeMb !== undefined);
  if (memory.length === 0) {
    const why = context.target.kind === 'local' ? "the local server's REPORT lines carry no Max Memory Used (Lambda measures the whole execution environment)" : `no REPORT line with Max Memory Used in ${source}`;
    facts.push(fact('peak memory below the function memory', 'not verified', why));
  } else {
    const peak = Math.max(...memory.map((line) => line.maxMemoryUsedMb!));
    const size = memory[0].memorySizeMb!;
    facts.push(
      fact(
        'peak memory below the function memory',
        peak < size * 0.95 ? 'verified' : 'failed',
        `max ${peak} MB of ${size} MB over ${memory.length} invocation(s) (${source})${peak < size * 0.95 ? '' : ': raise memoryMiB'}`,
      ),
    );
  }
  return facts;
}

interface ProbeOutcome {
  readonly ran: boolean;
  readonly result: any;
  readonly errorType: string | null;
  readonly error: string | null;
  readonly status: number;
}

async function runProbe(target: Target, script: string, headers: Record<string, string> = {}): Promise<ProbeOutcome> {
  const answer = await target.api('POST', '/execute', { script, timeoutMs: PROBE_TIMEOUT_MS }, headers);
  return {
    ran: answer.status === 200 || answer.status === 422,
    result: answer.body.result,
    errorType: answer.body.errorType ?? null,
    error: answer.body.error ?? null,
    status: answer.status,
  };
}

/** A network attempt from a script: verified when nothing was reached (and, locally, the canary saw no connection). */
function networkFact(name: string, outcome: ProbeOutcome, canaryBefore: number | undefined, target: Target): Fact {
  if (!outcome.ran) return fact(name, 'failed', `the probe did not run: HTTP ${outcome.status} ${outcome.errorType ?? ''}`);
  const canaryAfter = target.canaryConnections();
  const canaryReached = canaryBefore !== undefined && canaryAfter !== undefined && canaryAfter > canaryBefore;
  if (outcome.errorType === 'PolicyViolation') {
    return canaryReached ? fact(name, 'failed', 'the canary saw a connection') : fact(name, 'verified', `refused by the sandbox: ${outcome.error}`);
  }
  const attempt = outcome.result as { reached?: boolean; blockedBy?: string; message?: string; answer?: unknown } | null;
  if (attempt?.reached === false && !canaryReached) {
    return fact(name, 'verified', `${attempt.blockedBy}: ${attempt.message}`);
  }
  return fact(name, 'failed', `the script got through: ${JSON.stringify(attempt?.answer ?? outcome.result).slice(0, 200)}${canaryReached ? ' (the canary saw a connection)' : ''}`);
}

async function hostileSet(context: Context): Promise<Fact[]> {
  const { target } = context;
  const facts: Fact[] = [];

  const credentials = await runProbe(target, CREDENTIALS_PROBE);
  if (!credentials.ran) {
    facts.push(fact('a script finds no AWS credentials (environment, /proc of the runtime and of PID 1)', 'failed', `the probe did not run: HTTP ${credentials.status}`));
  } else if (credentials.errorType === 'PolicyViolation') {
    facts.push(fact('a script finds no AWS credentials (environment, /proc of the runtime and of PID 1)', 'verified', `refused by the sandbox: ${credentials.error}`));
  } else {
    const found = credentials.result as Record<string, string[] | string>;
    const leaks = Object.entries(found ?? {}).filter(([, names]) => Array.isArray(names) && names.length > 0);
    facts.push(
      leaks.length === 0
        ? fact('a script finds no AWS credentials (environment, /proc of the runtime and of PID 1)', 'verified', Object.entries(found ?? {}).map(([where, names]) => `${where}: ${Array.isArray(names) ? 'none' : names}`).join('; '))
        : fact('a script finds no AWS credentials (environment, /proc of the runtime and of PID 1)', 'failed', leaks.map(([where, names]) => `${where}: ${(names as string[]).join(', ')}`).join('; ')),
    );
  }

  const probes: [string, string][] = [
    [`a script cannot resolve ${target.network.dnsName}`, dnsProbe(target.network.dnsName)],
    [`a script cannot open TCP to ${target.network.tcpHost}:${target.network.tcpPort}`, tcpProbe(target.network.tcpHost, target.network.tcpPort)],
    ['a script cannot write to another bucket', otherBucketProbe(target.network.otherBucketUrl)],
  ];
  for (const [name, script] of probes) {
    const before = target.canaryConnections();
    facts.push(networkFact(name, await runProbe(target, script), before, target));
  }

  const runtimeApi = await runProbe(target, RUNTIME_API_PROBE);
  const runtimeName = 'a script cannot reach the Runtime API (variable gone, 127.0.0.1:9001 refused)';
  if (!runtimeApi.ran) {
    facts.push(fact(runtimeName, 'failed', `the probe did not run: HTTP ${runtimeApi.status}`));
  } else if (runtimeApi.errorType === 'PolicyViolation') {
    facts.push(fact(runtimeName, 'verified', `refused by the sandbox: ${runtimeApi.error}`));
  } else {
    const seen = runtimeApi.result as { variable: string | null; next: { reached: boolean; blockedBy?: string; message?: string } };
    const blocked = seen.variable === null && seen.next.reached === false;
    facts.push(
      fact(
        runtimeName,
        blocked ? 'verified' : 'failed',
        `AWS_LAMBDA_RUNTIME_API ${seen.variable === null ? 'absent' : 'PRESENT'}; /next: ${seen.next.reached ? 'answered' : `${seen.next.blockedBy}: ${seen.next.message}`}` +
          (target.kind === 'local' ? ' (locally each runtime listens on its own random port; only the variable and 9001 are checked)' : ''),
      ),
    );
  }
  return facts;
}

/**
 * Which execution environment served one request. Deployed, the probe tells
 * from inside: the kernel's boot id (one per microVM) and the host name.
 * Locally every runtime shares the laptop's kernel, so the runtime process
 * whose invocation count grew across the request is the environment.
 */
function environmentOf(probe: ProbeOutcome, before: readonly RuntimeProcess[] | undefined, after: readonly RuntimeProcess[] | undefined): string {
  if (before === undefined || after === undefined) return `${probe.result.bootId}/${probe.result.hostname}`;
  const grown = after.filter((runtime) => runtime.invocations > (before.find((earlier) => earlier.pid === runtime.pid)?.invocations ?? 0));
  if (grown.length !== 1) throw new Error(`${grown.length} runtimes took an invocation during one probe; run verify-deployment while nothing else uses the server.`);
  return `runtime process ${grown[0].pid}`;
}

async function tenantIsolation(context: Context): Promise<Fact[]> {
  const name = 'two tenants never share an execution environment';
  const mode = await context.target.tenantIsolationMode();
  const seen: Record<string, Set<string>> = { 'verify-tenant-a': new Set(), 'verify-tenant-b': new Set() };
  // Alternating requests, each once the last one's environment is free again: an environment
  // serving both tenants would be handed the other tenant's next request and show up in both sets.
  for (let round = 0; round < 3; round += 1) {
    for (const tenant of Object.keys(seen)) {
      await context.target.waitUntilIdle();
      const before = await context.target.runtimeProcesses();
      const outcome = await runProbe(context.target, ENVIRONMENT_FINGERPRINT_PROBE, { 'X-Tenant-Id': tenant });
      if (!outcome.ran || outcome.errorType !== null) {
        return [fact(name, 'failed', `the fingerprint probe did not run for ${tenant}: HTTP ${outcome.status} ${outcome.errorType ?? ''} ${outcome.error ?? ''}`)];
      }
      seen[tenant].add(environmentOf(outcome, before, await context.target.runtimeProcesses()));
    }
  }
  const [a, b] = Object.values(seen);
  const shared = [...a].filter((environment) => b.has(environment));
  const counts = `tenant A ran in ${a.size}, tenant B in ${b.size} environment(s); function tenant isolation mode: ${mode ?? 'none'}`;
  return shared.length === 0
    ? [fact(name, 'verified', `${counts}, none shared`)]
    : [fact(name, 'failed', `${counts}; ${shared.length} shared (${shared[0]})`)];
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Every check, in an order where the direct invokes come first, so a fresh runtime's cold start is seen in their log tails. */
export async function runChecks(target: Target): Promise<Fact[]> {
  const context: Context = { target, tails: [] };
  const facts: Fact[] = target.setupNotes.map((note) => fact(note, 'verified', ''));
  const steps: [string, (context: Context) => Promise<Fact[]> | Fact[]][] = [
    ['direct invoke', directInvoke],
    ['health', apiHealth],
    ['isolation layers', isolationLayers],
    ['init and memory', initAndMemory],
    ['hostile scripts', hostileSet],
    ['tenant isolation', tenantIsolation],
  ];
  for (const [step, check] of steps) {
    try {
      facts.push(...(await check(context)));
    } catch (error) {
      // One broken step (a missing permission, a timeout) must not hide the others.
      facts.push(fact(`${step}: the check could run`, 'failed', `${(error as Error).name}: ${(error as Error).message}`.slice(0, 400)));
    }
  }
  return facts;
}
