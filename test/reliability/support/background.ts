/**
 * Steady background traffic while a fault is injected: numbered executions
 * whose answers are checked, so a test can prove that only the request that
 * was hit failed and every other one got its right answer.
 */
import { INVOKE_PATH, keepAliveAgent, send } from './http';
import { labelOf, squareRequest, Tally, wrongSquare } from './checks';

export interface BackgroundSummary {
  readonly sent: number;
  readonly outcomes: Tally;
  /** Requests that got anything but their right answer (each a sentence). */
  readonly failures: string[];
}

export interface Background {
  /** Stops sending and waits for the requests in flight. */
  readonly stop: () => Promise<BackgroundSummary>;
  /** Resolves once at least `count` requests have been answered. */
  readonly answered: (count: number, limitMs?: number) => Promise<void>;
}

export function startBackground(baseUrl: string, concurrency: number, tagPrefix: string, firstN = 1_000_000): Background {
  const agent = keepAliveAgent(concurrency);
  const outcomes = new Tally();
  const failures: string[] = [];
  let running = true;
  let next = firstN;
  let sent = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (running) {
      const n = next;
      next += 1;
      sent += 1;
      const tag = `${tagPrefix}-${n}`;
      const viaInvoke = n % 5 === 0;
      try {
        const reply = await send(baseUrl, {
          path: viaInvoke ? INVOKE_PATH : '/execute',
          headers: { 'Content-Type': 'application/json' },
          body: squareRequest(n, tag),
          agent,
          limitMs: 60_000,
        });
        outcomes.add(`${viaInvoke ? 'invoke ' : ''}${labelOf(reply)}`);
        const problem =
          reply.status !== 200
            ? `status ${reply.status}: ${reply.text.slice(0, 200)}`
            : reply.headers['x-amz-function-error'] !== undefined
              ? `function error: ${reply.text.slice(0, 200)}`
              : wrongSquare(reply.json, n, tag);
        if (problem !== undefined) failures.push(`background n=${n} (${viaInvoke ? 'invoke' : 'http'}): ${problem}`);
      } catch (error) {
        outcomes.add('transport error');
        failures.push(`background n=${n}: ${(error as Error).message}`);
      }
      done += 1;
    }
  };
  const lanes = Array.from({ length: concurrency }, () => lane());
  return {
    stop: async () => {
      running = false;
      await Promise.all(lanes);
      agent.destroy();
      return { sent, outcomes, failures };
    },
    answered: async (count, limitMs = 60_000) => {
      const deadline = Date.now() + limitMs;
      while (done < count) {
        if (Date.now() > deadline) throw new Error(`Background traffic answered only ${done} of ${count} requests within ${limitMs} ms.`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
