/**
 * The playground page's script (bundled by esbuild at server start; no CDN,
 * works with no network at all). It calls POST /execute exactly as any
 * client would and renders every field of the response.
 */
import { python } from '@codemirror/lang-python';
import { EditorState, Prec, StateEffect, StateField, type Extension } from '@codemirror/state';
import { Decoration, EditorView, keymap, type DecorationSet } from '@codemirror/view';
import { reachedWorker } from './answers';
import { curlCommand } from './curl';
import { loadDraft, saveDraft } from './draft';
import { EXAMPLES, type Example } from './examples';
import { effectiveLimits, formatBytes, renderHealth, type HealthReport } from './health';
import { failingLine } from './traceback';
import { pythonEditorSetup } from './editor-setup';

interface Artifact {
  name: string;
  contentType: string;
  size: number;
  url: string | null;
  contentBase64?: string;
}

interface ExecuteResponse {
  ok: boolean;
  result: unknown;
  stdout: string;
  stderr: string;
  truncated: { stdout: boolean; stderr: boolean; artifacts: boolean };
  error: string | null;
  errorType: string | null;
  traceback: string | null;
  artifacts: Artifact[];
  durationMs: number;
  requestId: string;
}

const TOKEN_KEY = 'secure-python-executor.token';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`The page is missing #${id}.`);
  }
  return found as T;
}

/* Failing-line highlight: one line decoration, replaced or cleared by an effect. */
const setErrorLine = StateEffect.define<number | null>();
const errorLineField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decorations, transaction) {
    let next = transaction.docChanged ? Decoration.none : decorations.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (effect.is(setErrorLine)) {
        if (effect.value === null || effect.value < 1 || effect.value > transaction.state.doc.lines) {
          next = Decoration.none;
        } else {
          const line = transaction.state.doc.line(effect.value);
          next = Decoration.set([Decoration.line({ class: 'cm-error-line' }).range(line.from)]);
        }
      }
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

interface QueueState {
  size: number;
  idle: number;
  busy: number;
  queued: number;
}

/** The server's queue as it stands, not a claim about this request: the page cannot see which request waits. */
function describeQueue(local: QueueState): string {
  const notReady = local.size - local.busy - local.idle;
  const runtimes = `${local.size} runtime${local.size === 1 ? '' : 's'}: ${local.busy} busy, ${local.idle} idle${notReady > 0 ? `, ${notReady} not ready` : ''}`;
  if (local.queued > 0) return `waiting for a runtime: ${local.queued} request${local.queued === 1 ? '' : 's'} queued; ${runtimes}`;
  if (local.busy > 0) return `running in a runtime; ${runtimes}`;
  if (notReady > 0) return `a runtime is getting ready; ${runtimes}`;
  return `no runtime is busy; ${runtimes}`;
}

function setText(id: string, text: string, empty = '(empty)'): void {
  const target = element(id);
  target.textContent = text === '' ? empty : text;
  target.classList.toggle('muted', text === '');
}

function main(): void {
  const runButton = element<HTMLButtonElement>('run');
  const exampleSelect = element<HTMLSelectElement>('example');
  const inputBox = element<HTMLTextAreaElement>('input');
  const timeoutBox = element<HTMLInputElement>('timeout');
  const tokenRow = element('token-row');
  const tokenBox = element<HTMLInputElement>('token');
  const status = element('status');
  const queue = element('queue');
  const tokenRequired = document.body.dataset.tokenRequired === 'true';

  tokenRow.hidden = !tokenRequired;
  tokenBox.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  tokenBox.addEventListener('change', () => {
    sessionStorage.setItem(TOKEN_KEY, tokenBox.value.trim());
    void loadHealth();
  });
  const authHeaders = (): Record<string, string> => {
    const token = tokenBox.value.trim();
    return tokenRequired && token !== '' ? { Authorization: `Bearer ${token}` } : {};
  };

  const runKeys: Extension = Prec.highest(
    keymap.of([
      {
        key: 'Mod-Enter',
        run: () => {
          void run();
          return true;
        },
      },
    ]),
  );
  const draft = loadDraft();
  let current: Example = EXAMPLES.find((example) => example.id === draft?.exampleId) ?? EXAMPLES[0];
  const remember = (): void =>
    saveDraft({ exampleId: current.id, script: view.state.doc.toString(), input: inputBox.value, timeout: timeoutBox.value });
  const view = new EditorView({
    parent: element('editor'),
    state: EditorState.create({
      doc: draft?.script ?? current.script,
      extensions: [
        pythonEditorSetup(),
        python(),
        runKeys,
        errorLineField,
        EditorView.lineWrapping,
        EditorView.updateListener.of((update) => {
          if (update.docChanged) remember();
        }),
      ],
    }),
  });

  for (const example of EXAMPLES) {
    const option = document.createElement('option');
    option.value = example.id;
    option.textContent = example.label;
    exampleSelect.append(option);
  }
  exampleSelect.value = current.id;
  inputBox.value = draft?.input ?? current.input;
  timeoutBox.value = draft?.timeout ?? String(current.timeoutMs);
  inputBox.addEventListener('input', remember);
  timeoutBox.addEventListener('input', remember);

  const edited = (): boolean =>
    view.state.doc.toString() !== current.script || inputBox.value !== current.input || timeoutBox.value !== String(current.timeoutMs);
  const load = (example: Example): void => {
    current = example;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: example.script }, effects: setErrorLine.of(null) });
    inputBox.value = example.input;
    timeoutBox.value = String(example.timeoutMs);
    remember();
  };
  exampleSelect.addEventListener('change', () => {
    const example = EXAMPLES.find((candidate) => candidate.id === exampleSelect.value);
    if (example === undefined) return;
    if (edited() && !window.confirm(`Discard your edits to "${current.label}" and load "${example.label}"?`)) {
      exampleSelect.value = current.id;
      return;
    }
    load(example);
  });

  // Ctrl+Enter also works from the input and timeout boxes.
  for (const box of [inputBox, timeoutBox] as HTMLElement[]) {
    box.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        void run();
      }
    });
  }
  runButton.addEventListener('click', () => void run());

  const healthPanel = element('health');
  async function loadHealth(): Promise<void> {
    if (tokenRequired && tokenBox.value.trim() === '') {
      healthPanel.textContent = 'Enter LOCAL_TOKEN to load the health report.';
      return;
    }
    try {
      const response = await fetch('/healthz', { headers: authHeaders() });
      const report = (await response.json()) as HealthReport & { error?: string };
      if (!response.ok) {
        healthPanel.textContent = `The health report is not available (HTTP ${response.status}): ${report.error ?? 'no reason given'}`;
        return;
      }
      renderHealth(healthPanel, report);
      const limits = effectiveLimits(report);
      if (limits.minTimeoutMs !== undefined) timeoutBox.min = String(limits.minTimeoutMs);
      if (limits.maxTimeoutMs !== undefined) timeoutBox.max = String(limits.maxTimeoutMs);
      healthPanel.dataset.loaded = 'true';
    } catch (error) {
      healthPanel.textContent = `Could not load the health report: ${(error as Error).message}.`;
    }
  }
  void loadHealth();

  /** The request body from the fields, or a sentence saying which field to fix. */
  function buildRequest(): { request: Record<string, unknown> } | { problem: string } {
    const request: Record<string, unknown> = { script: view.state.doc.toString() };
    const inputText = inputBox.value.trim();
    if (inputText !== '') {
      try {
        request.input = JSON.parse(inputText);
      } catch (error) {
        return { problem: `The input is not valid JSON: ${(error as Error).message}` };
      }
    }
    const timeoutText = timeoutBox.value.trim();
    if (timeoutText !== '') {
      const timeoutMs = Number(timeoutText);
      const min = timeoutBox.min === '' ? 1 : Number(timeoutBox.min);
      const max = timeoutBox.max === '' ? Infinity : Number(timeoutBox.max);
      if (!Number.isInteger(timeoutMs) || timeoutMs < min || timeoutMs > max) {
        const range = max === Infinity ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
        return { problem: `The timeout must be ${range} ms (this server's limits); "${timeoutText}" is not. Change it and run again.` };
      }
      request.timeoutMs = timeoutMs;
    }
    return { request };
  }

  const curlButton = element<HTMLButtonElement>('copy-curl');
  const curlBox = element<HTMLTextAreaElement>('curl');
  curlButton.addEventListener('click', () => {
    const built = buildRequest();
    if ('problem' in built) {
      status.className = 'status bad';
      status.textContent = built.problem;
      return;
    }
    curlBox.value = curlCommand({ origin: window.location.origin, request: built.request, tokenRequired });
    curlBox.hidden = false;
    curlBox.select();
    // The clipboard needs a secure context and permission; the command stays selected in the box either way.
    const said = (text: string): void => {
      curlButton.textContent = text;
      window.setTimeout(() => (curlButton.textContent = 'Copy as curl'), 2000);
    };
    navigator.clipboard?.writeText(curlBox.value).then(
      () => said('Copied'),
      () => said('Copy the selected command'),
    );
  });

  /** Stale panes would pass for the new run's answer, so each run starts from empty ones. */
  function clearPanes(): void {
    element('request-id').textContent = '';
    setText('result', '', '(running…)');
    setText('stdout', '');
    setText('stderr', '');
    element('stdout-truncated').hidden = true;
    element('stderr-truncated').hidden = true;
    element('error-pane').hidden = true;
    setText('error', '', '');
    setText('traceback', '', '');
    element('traceback').hidden = true;
    element('error-line').textContent = '';
    element('artifacts').replaceChildren();
    element('artifacts-empty').hidden = false;
    view.dispatch({ effects: setErrorLine.of(null) });
  }

  /** Elapsed time every 100 ms; the server's queue every 500 ms from /local/status. */
  function watchRun(startedAt: number): () => void {
    const tick = (): void => {
      status.textContent = `Running… ${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
    };
    tick();
    const timer = window.setInterval(tick, 100);
    let polling = true;
    const poll = async (): Promise<void> => {
      while (polling) {
        try {
          const response = await fetch('/local/status', { headers: authHeaders() });
          if (response.ok && polling) queue.textContent = describeQueue((await response.json()) as QueueState);
        } catch {
          // The queue line is a hint; the run's own answer decides what the page shows.
        }
        await new Promise((resolve) => window.setTimeout(resolve, 500));
      }
    };
    void poll();
    return () => {
      polling = false;
      window.clearInterval(timer);
      queue.textContent = '';
    };
  }

  let running = false;
  async function run(): Promise<void> {
    if (running) return;
    const built = buildRequest();
    if ('problem' in built) {
      status.className = 'status bad';
      status.textContent = built.problem;
      return;
    }
    running = true;
    runButton.disabled = true;
    status.className = 'status running';
    clearPanes();
    const startedAt = performance.now();
    const stopWatching = watchRun(startedAt);
    try {
      const response = await fetch('/execute', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders() },
        body: JSON.stringify(built.request),
      });
      const text = await response.text();
      const roundTripMs = Math.round(performance.now() - startedAt);
      let body: Partial<ExecuteResponse>;
      try {
        body = JSON.parse(text) as Partial<ExecuteResponse>;
      } catch {
        body = { ok: false, error: `The server answered HTTP ${response.status} with a body that is not JSON.`, errorType: null };
      }
      stopWatching();
      render(response.status, body, roundTripMs);
    } catch (error) {
      stopWatching();
      status.className = 'status bad';
      status.textContent = `Could not reach the server: ${(error as Error).message}. Is npm start still running?`;
    } finally {
      running = false;
      runButton.disabled = false;
    }
  }

  function render(httpStatus: number, body: Partial<ExecuteResponse>, roundTripMs: number): void {
    const ok = body.ok === true;
    status.className = `status ${ok ? 'good' : 'bad'}`;
    const parts = [`HTTP ${httpStatus}`, ok ? 'ok' : (body.errorType ?? 'error')];
    if (typeof body.durationMs === 'number' && reachedWorker(httpStatus, body.errorType)) parts.push(`${body.durationMs} ms in the worker`);
    parts.push(`${roundTripMs} ms round trip`);
    status.textContent = parts.join(' · ');
    element('request-id').textContent = body.requestId !== undefined ? `requestId ${body.requestId}` : '';

    setText('result', ok ? JSON.stringify(body.result, null, 2) : '', ok ? 'null' : '(no result)');
    setText('stdout', body.stdout ?? '');
    setText('stderr', body.stderr ?? '');
    element('stdout-truncated').hidden = body.truncated?.stdout !== true;
    element('stderr-truncated').hidden = body.truncated?.stderr !== true;

    element('error-pane').hidden = ok;
    setText('error', ok ? '' : (body.error ?? 'The request failed.'), '');
    setText('traceback', body.traceback ?? '', '');
    element('traceback').hidden = !body.traceback;
    const line = failingLine(body.traceback ?? null);
    if (line !== null && line <= view.state.doc.lines) {
      view.dispatch({
        effects: [setErrorLine.of(line), EditorView.scrollIntoView(view.state.doc.line(line).from, { y: 'center' })],
      });
      element('error-line').textContent = `Failed at line ${line} (highlighted in the editor).`;
    } else {
      element('error-line').textContent = '';
    }

    const list = element('artifacts');
    list.replaceChildren();
    const artifacts = body.artifacts ?? [];
    element('artifacts-empty').hidden = artifacts.length > 0;
    for (const artifact of artifacts) {
      const item = document.createElement('li');
      const src = artifact.url ?? (artifact.contentBase64 !== undefined ? `data:${artifact.contentType};base64,${artifact.contentBase64}` : null);
      const link = document.createElement('a');
      link.textContent = `${artifact.name} (${artifact.contentType}, ${formatBytes(artifact.size)})`;
      if (src !== null) {
        link.href = src;
        link.target = '_blank';
        link.rel = 'noopener';
      }
      item.append(link);
      // SVG is left out of inline display on purpose: only raster images are shown in place.
      if (src !== null && /^image\/(png|jpeg|gif|webp)$/.test(artifact.contentType)) {
        const image = document.createElement('img');
        image.src = src;
        image.alt = artifact.name;
        image.className = 'artifact-image';
        item.append(image);
      }
      list.append(item);
    }
  }
}

main();
