import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ErrorType } from '../contract';

export interface ObservabilityOptions {
  /** The `service` of every log line and metric. @default 'secure-python-executor-invoker' */
  readonly serviceName?: string;
  /** @default 'SecurePythonExecutor' */
  readonly metricsNamespace?: string;
  /** @default POWERTOOLS_LOG_LEVEL as Powertools reads it, else INFO */
  readonly logLevel?: LogLevel;
  /**
   * false: no EMF lines at all (the local server has no CloudWatch to read
   * them). When true, Powertools still honours POWERTOOLS_METRICS_DISABLED.
   * @default true
   */
  readonly metrics?: boolean;
}

/** The one logger of an invoker and its metrics buffer, flushed once per request as one EMF line. */
export interface Observability {
  readonly logger: Logger;
  /** Undefined: metrics are off. */
  readonly metrics: Metrics | undefined;
}

export function createObservability(options: ObservabilityOptions = {}): Observability {
  const serviceName = options.serviceName ?? 'secure-python-executor-invoker';
  return {
    logger: new Logger({ serviceName, logLevel: options.logLevel }),
    metrics: options.metrics === false ? undefined : new Metrics({ namespace: options.metricsNamespace ?? 'SecurePythonExecutor', serviceName }),
  };
}

export function isDebugLogging(logger: Logger): boolean {
  return logger.getLevelName() === 'DEBUG' || logger.getLevelName() === 'TRACE';
}

interface RequestRecord {
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
export function recordRequest(
  { logger, metrics }: Observability,
  record: RequestRecord,
  debugPayload?: Readonly<Record<string, unknown>>,
): void {
  const level = record.status >= 500 ? 'error' : record.fault ? 'warn' : 'info';
  // The bodies hold the script and its output: only with debug logging on, and still in the one line.
  logger[level]('request', { ...record, ...(debugPayload !== undefined && isDebugLogging(logger) ? debugPayload : {}) });

  if (metrics === undefined || record.route !== '/execute' || record.method !== 'POST') return;
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
