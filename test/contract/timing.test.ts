import { defaultClientWaitMs, TIMING_BUDGET } from '../../contract/timing';
import { readInvokerConfig } from '../../invoker/config';
import { resolveConfig } from '../../lib/config';
import { invokerTimeouts } from '../../lib/invoker-api';
import { loadConfig } from '../../local/config';

/**
 * The layers of one request, outside in, for a deployed stack's settings: each
 * must hold the next one plus its own work (contract/timing.ts).
 */
function layersOf(props: Parameters<typeof resolveConfig>[0]): Record<string, number> {
  const config = resolveConfig(props);
  const { clientTimeoutMs, functionTimeoutSeconds } = invokerTimeouts(config);
  return {
    integrationMs: config.apiIntegrationTimeoutMs,
    invokerFunctionMs: functionTimeoutSeconds * 1000,
    clientWaitMs: clientTimeoutMs,
    executorFunctionMs: config.timeoutSeconds * 1000,
    maxRequestMs: config.limits.maxTimeoutMs,
  };
}

describe('the timing budget', () => {
  it.each([
    ['the defaults', {}],
    ['a longer function behind a raised integration timeout', { timeoutSeconds: 120, maxRequestTimeoutMs: 100_000, apiIntegrationTimeoutMs: 110_000 }],
    ['the shortest per-request maximum', { maxRequestTimeoutMs: 1000, defaultRequestTimeoutMs: 1000 }],
  ])('orders the layers of a deployed request for %s', (_name, props) => {
    const layers = layersOf(props);
    const { executorHeadroomMs, invokerWorkMs, invokerTimeoutMarginMs } = TIMING_BUDGET;
    // API Gateway waits for the invoker, which waits for the executor, which outlives the script.
    expect(layers.integrationMs).toBeGreaterThanOrEqual(layers.clientWaitMs + invokerWorkMs);
    expect(layers.invokerFunctionMs).toBeGreaterThanOrEqual(layers.clientWaitMs + invokerTimeoutMarginMs);
    expect(layers.invokerFunctionMs).toBeLessThanOrEqual(900_000);
    expect(layers.clientWaitMs).toBeGreaterThanOrEqual(layers.maxRequestMs + executorHeadroomMs);
    expect(layers.executorFunctionMs).toBeGreaterThanOrEqual(layers.maxRequestMs + executorHeadroomMs);
  });

  it("gives the invoker, when it knows only the per-request maximum, a wait that covers the executor's headroom and its own work", () => {
    const config = readInvokerConfig({ EXECUTOR_FUNCTION_NAME: 'executor', EXECUTOR_MAX_TIMEOUT_MS: '25000' } as NodeJS.ProcessEnv);
    expect(config.clientTimeoutMs).toBe(defaultClientWaitMs(25_000));
    expect(config.clientTimeoutMs).toBeGreaterThanOrEqual(25_000 + TIMING_BUDGET.executorHeadroomMs + TIMING_BUDGET.invokerWorkMs);
  });

  it('refuses a local function timeout without room for the executor after the longest request', () => {
    expect(() => loadConfig({ FUNCTION_TIMEOUT_S: '26', EXECUTOR_MAX_TIMEOUT_MS: '25000' })).toThrow(/FUNCTION_TIMEOUT_S/);
    expect(loadConfig({ FUNCTION_TIMEOUT_S: '27', EXECUTOR_MAX_TIMEOUT_MS: '25000' }).functionTimeoutS).toBe(27);
  });
});
