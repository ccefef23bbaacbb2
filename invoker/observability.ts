import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ErrorType } from '../contract';

const SERVICE_NAME = process.env.POWERTOOLS_SERVICE_NAME ?? 'secure-python-executor-invoker';

/** The one logger of the invoker. Level from POWERTOOLS_LOG_LEVEL (INFO by default). */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/**
 * The one metrics buffer of the invoker, flushed once per request as one EMF
 * line. POWERTOOLS_METRICS_DISABLED=true (the local server sets it) turns the
 * EMF lines off without touching the code path.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'SecurePythonExecutor',
  serviceName: SERVICE_NAME,
});

export function isDebugLogging(): boolean {
  return logger.getLevelName() === 'DEBUG' || logger.getLevelName() === 'TRACE';
}

export interface RequestRecord {
  readonly requestId: string;
  /** The effective tenant id (a hash of the caller, then the X-Tenant-Id header); null before it was known. Never the caller's ARN. */
  readonly tenantId: string | null;
  readonly route: string;
  readonly method: string;
  readonly status: number;
  readonly errorType: ErrorType | null;
  /** Time inside the worker, as the executor reported it. */
  readonly durationMs: number;
  /** Time inside the invoker, from event to response. */
  readonly totalMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly artifacts: number;
  readonly timeoutMs?: number;
  /** Why the executor call failed, from the SDK or the function error; never shown to the caller. */
  readonly fault?: Readonly<Record<string, string | number | undefined>>;
  readonly skippedArtifacts?: readonly string[];
}

/**
 * Emits the one log line and the metrics of a request. Metrics only for
 * POST /execute: health checks and probes of unknown routes would otherwise
 * drown the execution numbers.
 */
export function recordRequest(record: RequestRecord, debugPayload?: Readonly<Record<string, unknown>>): void {
  const level = record.status >= 500 ? 'error' : record.fault ? 'warn' : 'info';
  // The bodies hold the script and its output: only with debug logging on, and still in the one line.
  logger[level]('request', { ...record, ...(debugPayload !== undefined && isDebugLogging() ? debugPayload : {}) });

  if (record.route !== '/execute' || record.method !== 'POST') return;
  metrics.addMetric('Executions', MetricUnit.Count, 1);
  metrics.addMetric('LatencyMs', MetricUnit.Milliseconds, record.totalMs);
  if (record.durationMs > 0) metrics.addMetric('WorkerDurationMs', MetricUnit.Milliseconds, record.durationMs);
  metrics.addMetric('Errors', MetricUnit.Count, record.errorType === null ? 0 : 1);
  metrics.addMetric('Timeouts', MetricUnit.Count, record.errorType === 'Timeout' || record.errorType === 'ExecutorTimeout' ? 1 : 0);
  metrics.publishStoredMetrics();
  if (record.errorType !== null) {
    // Errors by type in its own EMF line with one errorType dimension: the
    // set of values is the contract's closed list, so cardinality stays bounded.
    metrics.singleMetric().addDimension('errorType', record.errorType).addMetric('ErrorsByType', MetricUnit.Count, 1);
  }
}
