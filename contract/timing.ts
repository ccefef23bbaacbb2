/**
 * The timing budget of a request, in one table: every headroom and margin
 * between API Gateway, the invoker, the executor's Lambda timeout and a
 * script's own deadline. From the outside in, each layer must hold the next
 * one plus its own work (test/contract/timing.test.ts checks the order):
 *
 *   API Gateway integration timeout
 *     >= invoker client wait + invokerWorkMs
 *   invoker client wait (at most executor Lambda timeout + clientWaitBeyondExecutorMs)
 *     >  per-request maximum + executorHeadroomMs
 *   executor Lambda timeout (or the local FUNCTION_TIMEOUT_S)
 *     >= per-request maximum + executorHeadroomMs
 */
export const TIMING_BUDGET = {
  /**
   * The executor's work after a script's deadline: stop the worker, collect
   * and upload artifacts, answer. The per-request maximum must end this long
   * before the executor's Lambda timeout, so a script that runs to its limit
   * is answered with `Timeout`, not cut off by Lambda.
   */
  executorHeadroomMs: 2000,
  /** The invoker's own work besides waiting: validate, seal, invoke, sign artifact links, answer. */
  invokerWorkMs: 1000,
  /**
   * How much longer than the executor's Lambda timeout the invoker's Lambda
   * client waits, so that it receives Lambda's own timeout error instead of
   * giving up first.
   */
  clientWaitBeyondExecutorMs: 2000,
  /** The invoker function's own timeout above its client's wait, to log and answer cleanly. */
  invokerTimeoutMarginMs: 5000,
  /** API Gateway's default integration timeout for REST APIs. */
  defaultApiIntegrationTimeoutMs: 29_000,
} as const;

/**
 * How long the invoker waits for the executor when it knows only the
 * per-request maximum (no EXECUTOR_CLIENT_TIMEOUT_MS, as under tests): the
 * executor's headroom, Lambda's answer and the invoker's own work on top.
 */
export function defaultClientWaitMs(maxRequestMs: number): number {
  return maxRequestMs + TIMING_BUDGET.executorHeadroomMs + TIMING_BUDGET.clientWaitBeyondExecutorMs + TIMING_BUDGET.invokerWorkMs;
}
