/**
 * Renders bench/REPORT.md from the measurements of one run. Every number in
 * the report comes from that run; the prose around a missed target is built
 * from the same numbers, so a re-run on another machine stays truthful.
 */

const MIB = 1024 * 1024;

function ms(value) {
  if (value === undefined || value === null || Number.isNaN(value)) {
    return 'n/a';
  }
  if (value < 1) return `${value.toFixed(3)} ms`;
  if (value < 10) return `${value.toFixed(2)} ms`;
  if (value < 100) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(0)} ms`;
}

function mib(bytes) {
  return bytes === undefined || bytes === null ? 'n/a' : `${(bytes / MIB).toFixed(1)} MiB`;
}

function ratio(value) {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 10 ? `${value.toFixed(0)}x` : `${value.toFixed(1)}x`;
}

function load(values) {
  return values.map((v) => v.toFixed(2)).join(' / ');
}

function seriesRow(label, summary, extra = '') {
  if (!summary || !summary.n) {
    return `| ${label} | 0 | n/a | n/a | n/a | n/a | ${extra} |`;
  }
  return `| ${label} | ${summary.n} | ${ms(summary.medianMs)} | ${ms(summary.p95Ms)} | ${ms(summary.minMs)} | ${ms(summary.maxMs)} | ${extra} |`;
}

function capNote(entry) {
  return entry?.capped ? `time cap hit (${entry.execute?.n ?? entry.n} of ${entry.requested})` : '';
}

function parseKb(text) {
  const match = /^(\d+)\s*kB$/.exec(String(text ?? ''));
  return match ? Number(match[1]) * 1024 : undefined;
}

/** The issue's targets, each with the measured value and, for a miss, how far off and why. */
function targets({ engine, server, machine }) {
  const a = engine.asBuilt;
  const aPandas = a.pandas.execute.medianMs;
  const aTrivial = a.trivial.execute.medianMs;
  const dPandas = engine.inProcess.pandas.execute.medianMs;
  const cPandas = engine.spawnPerRequest.pandas.execute.medianMs;
  const serverPandas = server.latency.pandas?.medianMs;
  const serverTrivial = server.latency.trivial?.medianMs;
  const conc4 = server.servers
    .map((entry) => ({ sandbox: entry.sandboxConcurrency, run: entry.throughput.find((t) => t.clientConcurrency === 4) }))
    .filter((entry) => entry.run);
  const best4 = conc4.reduce((best, entry) => (best === undefined || entry.run.executionsPerS > best.run.executionsPerS ? entry : best), undefined);
  const init = engine.init.configs[0];
  const cycleMs = a.pandas.execute.medianMs + a.pandas.recycle.medianMs + a.pandas.refill.medianMs;
  const cores = machine.logicalCores;
  const ceiling = (cores * 1000) / cycleMs;
  const phases = engine.phases ?? {};
  const parentSteps = Object.entries(phases.parent ?? {}).sort((x, y) => y[1] - x[1]);
  const workerSteps = Object.entries(phases.worker ?? {}).filter(([name]) => name !== '_setup').sort((x, y) => y[1] - x[1]);
  const topParent = parentSteps.slice(0, 3).map(([name, value]) => `${name} ${ms(value)}`).join(', ');
  const topWorker = workerSteps.slice(0, 3).map(([name, value]) => `${name} ${ms(value)}`).join(', ');
  const ussParts = init.workerUssByProcess ?? [];

  const rows = [];
  const add = (target, measured, pass, missBy, cause) => rows.push({ target, measured, pass, missBy, cause });

  add('Engine, pandas script: median <= 1 ms', ms(aPandas), aPandas <= 1, `${ms(aPandas - 1)} over (${ratio(aPandas)} the target)`,
    `The script itself needs ${ms(dPandas)} with no isolation at all (in-process exec, (d)): DataFrame construction and ` +
    `groupby/agg in pandas ${engine.health.preloads.pandas?.version ?? ''} cost more than the whole target on this CPU, so no isolation design can reach it ` +
    `for this script. The engine's own overhead is ${ms(aPandas - dPandas)} on the pandas script and ${ms(aTrivial)} on a trivial one ` +
    `(pipe round trip, request/response JSON, artifact scan, copy-on-write faults in the worker)` +
    (engine.warmUpExperiment?.extended?.n
      ? `; in the experiment below, extending the parked worker's warm-up with one groupby/agg changes the pandas median from ` +
        `${ms(engine.warmUpExperiment.asBuilt.medianMs)} to ${ms(engine.warmUpExperiment.extended.medianMs)} (alternating runs), ` +
        (engine.warmUpExperiment.extended.medianMs < engine.warmUpExperiment.asBuilt.medianMs * 0.9
          ? "so part of that overhead is pandas' first-call cost in a fresh worker."
          : 'so first-call costs in the fresh worker are not the main part here.')
      : '.'));
  add('Engine: >= 300x faster than spawn-per-request (pandas)', ratio(cPandas / aPandas), cPandas / aPandas >= 300,
    `${ratio(300 / (cPandas / aPandas))} short`,
    `Spawn-per-request pays ${ms(cPandas)} (interpreter start + importing pandas). With the script's own ${ms(dPandas)} as a floor, ` +
    `even a zero-overhead engine would reach only ${ratio(cPandas / dPandas)} here; the ratio is bounded by pandas, not by the isolation.`);
  add('Local server, pandas script: median <= 3 ms', ms(serverPandas), serverPandas <= 3, `${ms(serverPandas - 3)} over`,
    `The engine's part is ${ms(aPandas)}; the server adds ${ms(serverPandas - aPandas)} (trivial script through the server: ` +
    `${ms(serverTrivial)}): HTTP parse and validation in Node, the hand-off to a runtime over the Runtime API emulator ` +
    `(the Python runtime's long-poll /next and its POST of the response are two more loopback HTTP exchanges), and scheduling ` +
    `of three processes (Node, runtime, worker) on ${cores} cores.`);
  add('Local server: >= 100x faster than spawn-per-request (pandas)', ratio(cPandas / serverPandas), cPandas / serverPandas >= 100,
    `${ratio(100 / (cPandas / serverPandas))} short`,
    `Same floor as above: the pandas work itself (${ms(dPandas)}) plus the server hop; spawn-per-request costs ${ms(cPandas)}.`);
  add(`Local server: >= 300 executions/s at concurrency 4 on ${cores} cores`,
    best4 ? `${best4.run.executionsPerS.toFixed(1)}/s (SANDBOX_CONCURRENCY=${best4.sandbox})` : 'n/a',
    best4 ? best4.run.executionsPerS >= 300 : false,
    best4 ? `${ratio(300 / best4.run.executionsPerS)} short` : 'n/a',
    `Each execution costs a runtime one full cycle: execute ${ms(a.pandas.execute.medianMs)} + recycle ${ms(a.pandas.recycle.medianMs)} ` +
    `+ wait until the next worker is parked ${ms(a.pandas.refill.medianMs)} = ${ms(cycleMs)} of mostly CPU work, so ${cores} cores ` +
    `cap the engine at about ${ceiling.toFixed(0)}/s before any HTTP cost. Largest steps: recycle (parent) ${topParent || 'n/a'}; ` +
    `worker setup ${topWorker || 'n/a'}.`);
  add('Parent RSS with all preloads <= 120 MB', `${mib(init.parentRssBytes)} (${(init.parentRssBytes / 1e6).toFixed(1)} MB)`,
    init.parentRssBytes <= 120 * 1e6, `${((init.parentRssBytes - 120e6) / 1e6).toFixed(1)} MB over`,
    'numpy, pandas and matplotlib (pyplot, Agg) imported once in the parent.');
  add("Parked worker's USS <= 8 MB", `${mib(init.workerUssBytes)} (${(init.workerUssBytes / 1e6).toFixed(1)} MB)`,
    init.workerUssBytes <= 8 * 1e6, `${((init.workerUssBytes - 8e6) / 1e6).toFixed(1)} MB over`,
    ussParts.length > 1
      ? `The parked worker is ${ussParts.length} processes (${ussParts.map((b) => mib(b)).join(' + ')}): with the pid namespace on, ` +
        'an outer process that mirrors the exit status to the engine and a pid-1 reaper sit above the runner, and each forked copy ' +
        'of the parent holds its own page tables and the pages it dirtied. The runner owns what the warm-up (a pandas DataFrame, ' +
        'describe(), numpy, JSON encoding) copied on write.'
      : 'What the warm-up (a pandas DataFrame, describe(), numpy, JSON encoding) copied on write.');
  return rows;
}

export function renderReport({ startedAt, totalS, phaseS, machine, loadAverage, engine, server, scale }) {
  const lines = [];
  const push = (...text) => lines.push(...text);
  const peakLoad = Math.max(...loadAverage.map((entry) => entry.loadAverage[0]));
  const a = engine.asBuilt;
  const b = engine.forkPerRequest;
  const c = engine.spawnPerRequest;
  const d = engine.inProcess;

  push('# Benchmark report', '');
  push(`Generated by \`npm run bench\` (bench/run.mjs) on ${startedAt.toISOString()}; the whole run took ${totalS.toFixed(0)} s ` +
    `(engine phase ${phaseS.engine.toFixed(0)} s, server phase ${phaseS.server.toFixed(0)} s).` +
    (scale < 1 ? ` **Smoke run: BENCH_SCALE=${scale}, counts and time caps shrunk; not a result.**` : ''), '');
  if (totalS > 300 && scale >= 1) {
    push(`> **Over the time box.** This run took ${totalS.toFixed(0)} s, more than the 5 minutes issue 7 allows; the time caps are ` +
      'sized for a 2-core machine, and a loaded machine stretches the parts without caps (server start, init probes).', '');
  }
  if (peakLoad > machine.logicalCores * 0.75) {
    push(`> **Loaded machine.** The 1-minute load average reached ${peakLoad.toFixed(2)} on ${machine.logicalCores} logical cores during ` +
      'the run (the benchmark itself keeps about 1-2 busy): other work competed for the CPU, and every time below is inflated by it, tails most. Re-run on an idle machine ' +
      'before quoting absolute numbers; the ratios between methods measured side by side are more robust.', '');
  }

  push('## Machine', '');
  push('| | |', '|---|---|');
  push(`| CPU | ${machine.cpuModel} |`);
  push(`| logical cores | ${machine.logicalCores} |`);
  push(`| memory | ${machine.memoryGiB} GiB |`);
  push(`| OS / kernel | ${machine.distribution}; ${machine.kernel} |`);
  push(`| Python (executor and baselines) | ${machine.python} |`);
  const preloads = Object.entries(engine.health.preloads).map(([name, state]) => `${name} ${state.loaded ? state.version : 'missing'}`).join(', ');
  push(`| preloads | ${preloads} |`);
  push(`| Node (local server, client) | ${machine.node} |`);
  const layers = Object.entries(engine.health.layers);
  push(`| isolation layers on | ${layers.filter(([, on]) => on).map(([name]) => name).join(', ')} |`);
  const off = layers.filter(([, on]) => !on).map(([name]) => name);
  push(`| isolation layers off | ${off.length ? off.join(', ') : 'none'} |`);
  push(`| /tmp | ${machine.privateTmp ? 'private empty tmpfs for the run (as in a fresh Lambda environment)' : "the machine's shared /tmp"} |`);
  push(`| load average (1/5/15 min) | ${loadAverage.map((entry) => `${entry.phase}: ${load(entry.loadAverage)}`).join('; ')} |`);
  push('');

  push('## Targets of issue 7', '');
  push('| target | measured | result | missed by | cause |', '|---|---|---|---|---|');
  const rows = targets({ engine, server, machine });
  for (const row of rows) {
    push(`| ${row.target} | ${row.measured} | ${row.pass ? 'pass' : '**miss**'} | ${row.pass ? '' : row.missBy} | ${row.pass ? '' : row.cause} |`);
  }
  push('');

  push('## Engine level (Python, no HTTP)', '');
  push('Times are what the caller of `Engine.execute()` waits for, measured with `time.perf_counter()` around the call. ' +
    'For (a), each run starts when the next worker is parked (the state a request finds between calls); `recycle()` after the ' +
    'response (and any wait until the next worker is parked) is timed separately, because the runtime does it after posting the response.', '');
  push('| method | script | n | median | p95 | min | max | note |', '|---|---|---|---|---|---|---|---|');
  const methodRows = [
    ['(a) our engine: pre-forked, parked worker', a, (entry) => entry.execute],
    ['(b) fork per request from the preloaded parent', b, (entry) => entry.execute],
    ['(c) spawn per request: fresh `python3 -c`', c, (entry) => entry.execute],
    ['(d) in-process `exec()`, no isolation', d, (entry) => entry.execute],
  ];
  for (const [label, group, pick] of methodRows) {
    for (const name of ['trivial', 'pandas']) {
      const entry = group?.[name];
      if (!entry) {
        push(`| ${label} | ${name} | | | | | | ${group?.unavailable ?? 'not measured'} |`);
        continue;
      }
      push(seriesRow(`${label} | ${name}`, pick(entry), capNote(entry)));
    }
  }
  for (const name of ['trivial', 'pandas']) {
    push(seriesRow(`(a) recycle() after the response | ${name}`, a[name].recycle, 'kill, sweep, wipe, fork (and, if the engine waits for it, the new worker\'s setup)'));
    push(seriesRow(`(a) after recycle() until the next worker is parked | ${name}`, a[name].refill, 'the new worker\'s setup when recycle() does not wait for it'));
  }
  const experiment = engine.warmUpExperiment;
  if (experiment?.extended?.n) {
    push(seriesRow('experiment, alternating with the next row: (a) as built | pandas', experiment.asBuilt, 'control for the row below'));
    push(seriesRow('experiment: (a) with the warm-up extended by one groupby/agg | pandas', experiment.extended,
      `not the product${experiment.capped ? `; time cap hit (${experiment.extended.n} of ${experiment.requested})` : ''}`));
  }
  push('');
  push('(a) and (d) run in the same loop, one after the other, so that both see the same machine load; so do the two experiment rows.', '');
  push('Ratios of medians:', '');
  push('| ratio | trivial | pandas |', '|---|---|---|');
  const r = (x, y, name) => ratio(x[name].execute.medianMs / y[name].execute.medianMs);
  push(`| (c) spawn / (a) engine | ${r(c, a, 'trivial')} | ${r(c, a, 'pandas')} |`);
  push(`| (a) engine / (d) in-process | ${r(a, d, 'trivial')} | ${r(a, d, 'pandas')} |`);
  if (b.trivial) {
    push(`| (b) fork per request / (a) engine | ${r(b, a, 'trivial')} | ${r(b, a, 'pandas')} |`);
  }
  push('');
  push('How each is built (bench/engine_bench.py, none of it in the product):', '');
  push('- (a) `Engine.execute()` as the runtime calls it, then `Engine.recycle()`.');
  push('- (b) the same engine and sandbox, but the worker is forked when the request arrives (`_spawn_worker()` then `execute()`, ' +
    'timed together); cleanup of the previous worker is not timed.');
  push('- (c) `subprocess.run([python3, "-c", program])` with the request on stdin: the interpreter imports what the script needs ' +
    '(pandas for the pandas script, nothing for the trivial one), runs it and prints the JSON result. No sandbox at all, so this is a ' +
    `lower bound for nsjail- or container-per-request services. Fewer runs (${c.pandas.execute.n} and ${c.trivial.execute.n}) because each takes long.`);
  push('- (d) `compile()` + `exec()` in a fresh dict, call `main`, `json.dumps` the result, in a separate Python process that has ' +
    'pandas imported and never forks (in the benchmark process itself every write would pay a copy-on-write fault, because the ' +
    "engine's parked worker shares its pages).");
  push('');
  push('Scripts:', '');
  for (const name of ['trivial', 'pandas']) {
    push(`${name} (input: ${engine.scripts[name].input === null ? 'none' : `${JSON.stringify(engine.scripts[name].input).length} bytes of JSON`}):`, '');
    push('```python', engine.scripts[name].script.trimEnd(), '```', '');
  }

  if (engine.phases && !engine.phases.unavailable) {
    push('## Where the time goes', '');
    push(`Medians over ${engine.phases.runs} trivial executions. Parent steps run in \`recycle()\`, after the response ("fork the next ` +
      'worker" includes waiting for its ready frame when the engine does that); worker steps run in the new worker before it reports ' +
      'ready (its sandbox setup), and `_setup` is their total.', '');
    push('| side | step | median |', '|---|---|---|');
    for (const [name, value] of Object.entries(engine.phases.parent)) push(`| parent (recycle) | ${name} | ${ms(value)} |`);
    for (const [name, value] of Object.entries(engine.phases.worker)) push(`| worker (setup) | \`${name}\` | ${ms(value)} |`);
    push('');
  }

  push('## Through the local server', '');
  push(`\`local/main.ts\` started as \`npm start\` does (tsx), on 127.0.0.1 and an ephemeral port, once per SANDBOX_CONCURRENCY value; ` +
    'a Node client with keep-alive agents. Latency: sequential requests on the server with SANDBOX_CONCURRENCY=2 (the default), ' +
    `spaced ${server.latency.pandas?.idleGapMs ?? 'n/a'} ms apart so that each finds a parked worker (the gap is derived from the ` +
    "engine's recycle + refill p95); the time is the client's, from sending the request to the last byte of the answer.", '');
  push('| path | script | n | median | p95 | min | max | note |', '|---|---|---|---|---|---|---|---|');
  for (const name of ['trivial', 'pandas']) {
    push(seriesRow(`POST /execute | ${name}`, server.latency[name], server.latency[name]?.capped ? 'time cap hit' : ''));
  }
  push(seriesRow(`POST ${'/2015-03-31/functions/workflow-python-executor/invocations'} (Invoke API) | pandas`, server.invoke.pandas,
    server.invoke.pandas?.capped ? 'time cap hit' : ''));
  push('');
  push('Throughput, pandas script, back-to-back requests (executions per second; client-side median latency in brackets):', '');
  const clientLevels = server.servers[0]?.throughput.map((t) => t.clientConcurrency) ?? [];
  push(`| SANDBOX_CONCURRENCY | server ready after | ${clientLevels.map((level) => `client concurrency ${level}`).join(' | ')} |`);
  push(`|---|---|${clientLevels.map(() => '---').join('|')}|`);
  for (const entry of server.servers) {
    const cells = entry.throughput.map((t) => `${t.executionsPerS.toFixed(1)}/s (${ms(t.latency.medianMs)}; n=${t.completed}${t.errors ? `, ${t.errors} errors` : ''})`);
    push(`| ${entry.sandboxConcurrency} | ${(entry.readyMs / 1000).toFixed(1)} s | ${cells.join(' | ')} |`);
  }
  const errors = server.servers.flatMap((entry) => entry.throughput.filter((t) => t.errors).map((t) => `SANDBOX_CONCURRENCY=${entry.sandboxConcurrency}, client ${t.clientConcurrency}: ${t.firstError}`));
  push('', `Each cell: at most 400 requests or 3.5 s, whichever comes first, after one untimed request per client.${errors.length ? ` Errors: ${errors.join('; ')}` : ' No request failed.'}`, '');

  push('## Memory', '');
  const init = engine.init.configs[0];
  const peak = engine.peak;
  push('| what | value | how |', '|---|---|---|');
  push(`| parent RSS after init, all preloads | ${mib(init.parentRssBytes)} | VmRSS of a fresh engine process once its first worker is parked (median of ${engine.init.repeats}) |`);
  push(`| parked worker USS | ${mib(init.workerUssBytes)} | Private_Clean + Private_Dirty from /proc/<pid>/smaps_rollup, summed over the worker's processes (${(init.workerUssByProcess ?? []).map((v) => mib(v)).join(' + ')}) |`);
  push(`| parked worker RSS | ${(init.workerRssByProcess ?? []).map((v) => mib(v)).join(' + ')} | mostly pages shared with the parent |`);
  push(`| worker peak RSS, pandas bench script | ${mib(parseKb(peak.small.VmHWM))} | VmHWM read by the script itself at the end of main() |`);
  push(`| worker peak RSS, ${peak.rows.toLocaleString('en-US')} rows x 10 floats + groupby + describe | ${mib(parseKb(peak.heavy.VmHWM))} | same |`);
  const df = engine.largestDataFrame;
  push(`| largest DataFrame under the default limits (${engine.health.limits.workerMemoryMiB ?? 192} MiB worker memory) | ${df.largestRows === null ? 'n/a' : `${df.largestRows.toLocaleString('en-US')} rows x 10 float64 (${mib(df.largestRows * 80)} of data)`} | bisection, ${df.attempts.length} attempts; ${df.smallestFailingRows ? `${df.smallestFailingRows.toLocaleString('en-US')} rows fail with ${df.failureTypes.join(', ')}` : df.note ?? ''} |`);
  push('');
  if (df.largestRows) {
    const limitMiB = engine.health.limits.workerMemoryMiB ?? 192;
    push(`The DataFrame script builds the frame from one 2-D numpy array (pandas wraps it without a copy) and returns the column means; ` +
      `the largest frame's data is ${((df.largestRows * 80) / MIB / limitMiB * 100).toFixed(0)}% of the ${limitMiB} MiB worker memory limit ` +
      '(RLIMIT_AS: what the worker had mapped at fork plus that limit). Workloads that copy the frame (sorting, merges) reach the limit at a fraction of these rows.', '');
  }
  push('## Init', '');
  push('Time from starting a fresh Python process to its first parked worker (ready frame received), with each preload switched ' +
    'off through EXECUTOR_PRELOADS. "engine init" is the Engine constructor alone; the rest is interpreter start and the first worker\'s setup.', '');
  push('| preloads | loaded | runs | median to first parked worker | min | max | engine init | parent RSS | worker USS |', '|---|---|---|---|---|---|---|---|---|');
  for (const config of engine.init.configs) {
    const t = config.toFirstParkedWorker;
    push(`| ${config.label}: \`${config.preloads}\` | ${config.loaded.join(', ') || 'none'} | ${t.n} | ${ms(t.medianMs)} | ${ms(t.minMs)} | ${ms(t.maxMs)} | ${ms(config.engineInitMs)} | ${mib(config.parentRssBytes)} | ${mib(config.workerUssBytes)} |`);
  }
  push('');

  push('## Method and limits of this report', '');
  push('- One run of `npm run bench`; every series has a run count and a time cap, and the tables show how many runs each got ' +
    '(the caps keep the whole report under 5 minutes on a loaded 2-core machine). Medians and p95 (nearest rank) of all runs; no warm-up run is counted.');
  push('- The engine uses its real sandbox as probed on this machine (layers above); the benchmark runs as root with dedicated sandbox uids (64100+ for the engine, 64200+ for the server).');
  push('- Spawn-per-request has no sandbox, so the ratios against it understate the gap to real nsjail- or container-per-request services.');
  push('- The raw numbers are in bench/REPORT.json.');
  push('');
  return `${lines.join('\n')}\n`;
}
