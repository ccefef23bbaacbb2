import type { ObservabilityOptions } from '../../invoker/observability';
import { LambdaEndpoint, functionError } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import {
  apiEvent,
  captureOutput,
  executeEvent,
  executorFailure,
  executorOk,
  lambdaContext,
  invokerFor,
} from './support';

/*
 * One structured log line per request (never the script or its output unless
 * debug logging is on) and EMF metrics, both written to stdout by Powertools.
 */

const endpoint = new LambdaEndpoint();
let endpointUrl: string;
const SECRET_SCRIPT = 'def main(x): return "the-script-body-7f3a"';
const SECRET_INPUT = { token: 'the-input-value-91c2' };

beforeAll(async () => {
  endpointUrl = await endpoint.start();
});

afterAll(() => endpoint.stop());

function load(observability: ObservabilityOptions = {}): InvokerHandler {
  return invokerFor(
    { LAMBDA_ENDPOINT: endpointUrl },
    { observability: { logLevel: 'INFO', metrics: true, metricsNamespace: 'SpeTest', serviceName: 'invoker-test', ...observability } },
  );
}

function parsed(lines: string[]): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

function emfLines(lines: string[]): EmfLine[] {
  return parsed(lines).filter((line) => '_aws' in line) as unknown as EmfLine[];
}

function logLines(lines: string[]): Record<string, unknown>[] {
  return parsed(lines).filter((line) => !('_aws' in line));
}

describe('at the default log level', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load();
  });

  it('writes exactly one log line for a successful execution, with ids, status, durations and sizes', async () => {
    endpoint.respond = () => ({ body: executorOk({ result: 'the-result-value-55aa', stdout: 'the-stdout-text-3b1d', durationMs: 7 }) });
    const event = executeEvent({ script: SECRET_SCRIPT, input: SECRET_INPUT }, { requestId: 'obs-req-1' });
    const { result, lines } = await captureOutput(() => handler(event, lambdaContext()));
    const logs = logLines(lines);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      level: 'INFO',
      message: 'request',
      service: 'invoker-test',
      requestId: 'obs-req-1',
      route: '/execute',
      method: 'POST',
      status: 200,
      durationMs: 7,
      requestBytes: Buffer.byteLength(event.body!, 'utf8'),
      responseBytes: Buffer.byteLength(result.body, 'utf8'),
      timeoutMs: 10_000,
    });
    expect(typeof logs[0]!.totalMs).toBe('number');
    expect(logs[0]).not.toHaveProperty('errorType');
  });

  it('never logs the script, the input, the result or the output', async () => {
    endpoint.respond = () => ({ body: executorOk({ result: 'the-result-value-55aa', stdout: 'the-stdout-text-3b1d', stderr: 'the-stderr-text-c0de' }) });
    const { lines } = await captureOutput(() => handler(executeEvent({ script: SECRET_SCRIPT, input: SECRET_INPUT }), lambdaContext()));
    const all = lines.join('\n');
    for (const secret of ['the-script-body-7f3a', 'the-input-value-91c2', 'the-result-value-55aa', 'the-stdout-text-3b1d', 'the-stderr-text-c0de']) {
      expect(all).not.toContain(secret);
    }
  });

  it('logs a failure with its errorType, and an executor fault as an error with the cause the caller does not see', async () => {
    endpoint.respond = () => ({ body: executorFailure('ScriptError', 'NameError: name x is not defined') });
    const scriptFailure = await captureOutput(() => handler(executeEvent({ script: 'x' }), lambdaContext()));
    expect(logLines(scriptFailure.lines)).toEqual([expect.objectContaining({ level: 'INFO', status: 422, errorType: 'ScriptError' })]);

    endpoint.respond = () => functionError('RuntimeError', 'engine exploded');
    const fault = await captureOutput(() => handler(executeEvent({ script: 'x' }), lambdaContext()));
    const [line] = logLines(fault.lines);
    expect(line).toMatchObject({
      level: 'ERROR',
      status: 500,
      errorType: 'InternalError',
      fault: { functionError: 'Unhandled', lambdaErrorType: 'RuntimeError', lambdaErrorMessage: 'engine exploded' },
    });
    expect(fault.result.body).not.toContain('engine exploded');
  });

  it('emits EMF metrics for an execution: Executions, LatencyMs, WorkerDurationMs, Errors and Timeouts', async () => {
    endpoint.respond = () => ({ body: executorOk({ durationMs: 4 }) });
    const { lines } = await captureOutput(() => handler(executeEvent({ script: 'pass' }), lambdaContext()));
    const emf = emfLines(lines);
    expect(emf).toHaveLength(1);
    const directive = emf[0]!._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe('SpeTest');
    expect(directive.Dimensions).toEqual([['service']]);
    expect(directive.Metrics.map((metric) => `${metric.Name}:${metric.Unit}`).sort()).toEqual(
      ['Errors:Count', 'Executions:Count', 'LatencyMs:Milliseconds', 'Timeouts:Count', 'WorkerDurationMs:Milliseconds'].sort(),
    );
    expect(emf[0]).toMatchObject({ service: 'invoker-test', Executions: 1, Errors: 0, Timeouts: 0, WorkerDurationMs: 4 });
  });

  it('counts an error by type in a separate line with one errorType dimension, and a Timeout as a timeout', async () => {
    endpoint.respond = () => ({ body: executorFailure('Timeout', 'Script exceeded its 10000 ms timeout') });
    const { lines } = await captureOutput(() => handler(executeEvent({ script: 'while True: pass' }), lambdaContext()));
    const emf = emfLines(lines);
    expect(emf).toHaveLength(2);
    expect(emf[0]).toMatchObject({ Executions: 1, Errors: 1, Timeouts: 1 });
    const byType = emf[1]!;
    expect(byType._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'errorType']]);
    expect(byType).toMatchObject({ errorType: 'Timeout', ErrorsByType: 1 });
  });

  it('emits metrics for refused requests too, but none for health checks or unknown routes', async () => {
    const refused = await captureOutput(() => handler(apiEvent({ body: '{' }), lambdaContext()));
    expect(emfLines(refused.lines)).toEqual([
      expect.objectContaining({ Executions: 1, Errors: 1 }),
      expect.objectContaining({ errorType: 'InvalidRequest', ErrorsByType: 1 }),
    ]);

    endpoint.respond = () => ({ body: { ok: true, health: {} } });
    const health = await captureOutput(() => handler(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext()));
    expect(emfLines(health.lines)).toEqual([]);
    expect(logLines(health.lines)).toEqual([expect.objectContaining({ route: '/healthz', status: 200 })]);

    const unknown = await captureOutput(() => handler(apiEvent({ method: 'GET', path: '/wp-admin', body: null }), lambdaContext()));
    expect(emfLines(unknown.lines)).toEqual([]);
  });
});

describe('at log level DEBUG', () => {
  it('adds the request and response bodies to the one log line', async () => {
    const handler = load({ logLevel: 'DEBUG' });
    endpoint.respond = () => ({ body: executorOk({ stdout: 'the-stdout-text-3b1d' }) });
    const event = executeEvent({ script: SECRET_SCRIPT });
    const { result, lines } = await captureOutput(() => handler(event, lambdaContext()));
    const logs = logLines(lines);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ message: 'request', status: 200, requestBody: event.body, responseBody: result.body });
    expect(JSON.stringify(logs[0])).toContain('the-stdout-text-3b1d');
  });
});

describe('with metrics off (the local server)', () => {
  it('still logs but writes no EMF', async () => {
    const handler = load({ metrics: false });
    endpoint.respond = () => ({ body: executorFailure('ScriptError', 'boom') });
    const { lines } = await captureOutput(() => handler(executeEvent({ script: 'pass' }), lambdaContext()));
    expect(emfLines(lines)).toEqual([]);
    expect(logLines(lines)).toHaveLength(1);
  });
});
