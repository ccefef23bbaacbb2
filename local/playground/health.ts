import type { ContractLimits } from '../../contract/limit-specs';

/**
 * The /healthz report as a readable panel: Python and its preloads with
 * versions, each isolation layer's state with its reason, and the limits a
 * script meets. Built with DOM nodes (textContent only), never innerHTML.
 */
interface Layer {
  readonly active: boolean;
  readonly state?: string;
  readonly detail?: string;
}

/** The limits as a health report shows them: the contract's, any of them possibly absent. */
type Limits = Partial<ContractLimits>;

export interface HealthReport {
  readonly status?: string;
  readonly executor?: {
    readonly python?: string;
    readonly profile?: string;
    readonly preloads?: Record<string, { loaded: boolean; version?: string | null; error?: string }>;
    readonly layers?: Record<string, Layer>;
    readonly limits?: Limits;
  };
  readonly invoker?: { readonly limits?: Limits };
  readonly reportedAt?: string;
  readonly fromLastReport?: boolean;
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(size % 1024 === 0 ? 0 : 1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(size % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}

/** The invoker's limits are the ones a request meets first; the executor's fill any gap. */
export function effectiveLimits(report: HealthReport): Limits {
  return { ...(report.executor?.limits ?? {}), ...(report.invoker?.limits ?? {}) };
}

function node<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className !== undefined) made.className = className;
  return made;
}

function row(list: HTMLElement, term: string, value: string, id?: string): void {
  const item = node('li');
  item.append(node('span', term, 'term'), node('span', value, 'value'));
  if (id !== undefined) item.dataset.key = id;
  list.append(item);
}

export function renderHealth(container: HTMLElement, report: HealthReport): void {
  container.replaceChildren();
  const executor = report.executor ?? {};
  const summary = node('p', `Python ${executor.python ?? 'unknown'}${executor.profile ? ` · ${executor.profile} profile` : ''} · status ${report.status ?? 'unknown'}`, 'health-summary');
  container.append(summary);
  if (report.fromLastReport === true && report.reportedAt !== undefined) {
    container.append(node('p', `Every runtime was busy: this is the last report, made at ${report.reportedAt}.`, 'muted'));
  }

  container.append(node('h3', 'Preloaded modules'));
  const preloads = node('ul', undefined, 'health-list');
  preloads.id = 'health-preloads';
  for (const [name, preload] of Object.entries(executor.preloads ?? {})) {
    row(preloads, name, preload.loaded ? (preload.version ?? 'loaded') : `not loaded${preload.error ? `: ${preload.error}` : ''}`, name);
  }
  if (preloads.childElementCount === 0) preloads.append(node('li', 'none', 'muted'));
  container.append(preloads);

  container.append(node('h3', 'Isolation layers'));
  const layers = node('ul', undefined, 'health-layers');
  layers.id = 'health-layers';
  for (const [name, layer] of Object.entries(executor.layers ?? {})) {
    const state = layer.state ?? (layer.active ? 'active' : 'off');
    const item = node('li');
    item.dataset.layer = name;
    item.dataset.state = state;
    item.append(node('span', state, `layer-state state-${state.replace(/[^a-z]/g, '')}`), node('span', name.replace(/_/g, ' '), 'layer-name'));
    if (layer.detail) item.append(node('span', layer.detail, 'layer-detail'));
    layers.append(item);
  }
  container.append(layers);

  container.append(node('h3', 'Limits'));
  const limits = effectiveLimits(report);
  const list = node('ul', undefined, 'health-list');
  list.id = 'health-limits';
  if (limits.minTimeoutMs !== undefined && limits.maxTimeoutMs !== undefined) {
    row(list, 'timeout', `${limits.minTimeoutMs}–${limits.maxTimeoutMs} ms (default ${limits.defaultTimeoutMs ?? '?'} ms)`, 'timeout');
  }
  if (limits.workerMemoryMiB !== undefined) row(list, 'memory', `${limits.workerMemoryMiB} MiB per worker`, 'memory');
  if (limits.maxScriptBytes !== undefined) row(list, 'script', formatBytes(limits.maxScriptBytes), 'script');
  if (limits.maxRequestBytes !== undefined) row(list, 'request', formatBytes(limits.maxRequestBytes), 'request');
  if (limits.maxStdoutBytes !== undefined) row(list, 'stdout / stderr', `${formatBytes(limits.maxStdoutBytes)} / ${formatBytes(limits.maxStderrBytes ?? 0)}`, 'output');
  if (limits.maxResultBytes !== undefined) row(list, 'result', formatBytes(limits.maxResultBytes), 'result');
  if (limits.maxArtifacts !== undefined) row(list, 'artifacts', `${limits.maxArtifacts} files of up to ${formatBytes(limits.maxArtifactBytes ?? 0)}`, 'artifacts');
  if (limits.maxProcesses !== undefined) row(list, 'processes', String(limits.maxProcesses), 'processes');
  container.append(list);
}
