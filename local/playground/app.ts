/**
 * The playground page's script (bundled by esbuild at server start; no CDN,
 * works with no network at all). It calls POST /execute exactly as any
 * client would and renders every field of the response.
 */
import { python } from '@codemirror/lang-python';
import { EditorState, Prec, StateEffect, StateField, type Extension } from '@codemirror/state';
import { Decoration, EditorView, keymap, type DecorationSet } from '@codemirror/view';
import { EXAMPLES, type Example } from './examples';
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

function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
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
  const tokenRequired = document.body.dataset.tokenRequired === 'true';

  tokenRow.hidden = !tokenRequired;
  tokenBox.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  tokenBox.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, tokenBox.value.trim()));

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
  const view = new EditorView({
    parent: element('editor'),
    state: EditorState.create({
      doc: EXAMPLES[0].script,
      extensions: [pythonEditorSetup(), python(), runKeys, errorLineField, EditorView.lineWrapping],
    }),
  });

  for (const example of EXAMPLES) {
    const option = document.createElement('option');
    option.value = example.id;
    option.textContent = example.label;
    exampleSelect.append(option);
  }
  const load = (example: Example): void => {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: example.script }, effects: setErrorLine.of(null) });
    inputBox.value = example.input;
    timeoutBox.value = String(example.timeoutMs);
  };
  exampleSelect.addEventListener('change', () => {
    const example = EXAMPLES.find((candidate) => candidate.id === exampleSelect.value);
    if (example !== undefined) load(example);
  });
  load(EXAMPLES[0]);

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

  let running = false;
  async function run(): Promise<void> {
    if (running) return;
    const status = element('status');
    const request: Record<string, unknown> = { script: view.state.doc.toString() };
    const inputText = inputBox.value.trim();
    if (inputText !== '') {
      try {
        request.input = JSON.parse(inputText);
      } catch (error) {
        status.className = 'status bad';
        status.textContent = `The input is not valid JSON: ${(error as Error).message}`;
        return;
      }
    }
    const timeoutText = timeoutBox.value.trim();
    if (timeoutText !== '') {
      request.timeoutMs = Number(timeoutText);
    }
    running = true;
    runButton.disabled = true;
    status.className = 'status running';
    status.textContent = 'Running...';
    view.dispatch({ effects: setErrorLine.of(null) });
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const token = tokenBox.value.trim();
    if (tokenRequired && token !== '') headers.Authorization = `Bearer ${token}`;
    const startedAt = performance.now();
    try {
      const response = await fetch('/execute', { method: 'POST', headers, body: JSON.stringify(request) });
      const roundTripMs = Math.round(performance.now() - startedAt);
      const text = await response.text();
      let body: Partial<ExecuteResponse>;
      try {
        body = JSON.parse(text) as Partial<ExecuteResponse>;
      } catch {
        body = { ok: false, error: `The server answered HTTP ${response.status} with a body that is not JSON.`, errorType: null };
      }
      render(response.status, body, roundTripMs);
    } catch (error) {
      status.className = 'status bad';
      status.textContent = `Could not reach the server: ${(error as Error).message}. Is npm start still running?`;
    } finally {
      running = false;
      runButton.disabled = false;
    }
  }

  function render(httpStatus: number, body: Partial<ExecuteResponse>, roundTripMs: number): void {
    const status = element('status');
    const ok = body.ok === true;
    status.className = `status ${ok ? 'good' : 'bad'}`;
    const parts = [`HTTP ${httpStatus}`, ok ? 'ok' : (body.errorType ?? 'error')];
    if (typeof body.durationMs === 'number') parts.push(`${body.durationMs} ms in the worker`);
    parts.push(`${roundTripMs} ms round trip`);
    status.textContent = parts.join(' · ');
    element('request-id').textContent = body.requestId !== undefined ? `requestId ${body.requestId}` : '';

    setText('result', ok ? JSON.stringify(body.result, null, 2) : '', ok ? 'null' : '(no result)');
    setText('stdout', body.stdout ?? '');
    setText('stderr', body.stderr ?? '');
    element('stdout-truncated').hidden = body.truncated?.stdout !== true;
    element('stderr-truncated').hidden = body.truncated?.stderr !== true;

    const errorPane = element('error-pane');
    errorPane.hidden = ok;
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
