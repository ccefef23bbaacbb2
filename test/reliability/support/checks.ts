/**
 * What a correct answer and a clean error look like, shared by the load,
 * fault and fuzz suites and the soak.
 */
import type { Reply } from './http';

/** The numbered workload: a unique input whose answer and stdout are both predictable. */
export const SQUARE_SCRIPT = 'def main(x):\n    print(x["n"])\n    return {"n": x["n"], "sq": x["n"] * x["n"], "tag": x["tag"]}\n';

export function squareRequest(n: number, tag: string, timeoutMs?: number): string {
  return JSON.stringify({ script: SQUARE_SCRIPT, input: { n, tag }, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

/** Why `body` (an executor response) is not the right answer for n/tag, or undefined when it is. */
export function wrongSquare(body: unknown, n: number, tag: string): string | undefined {
  const response = body as { ok?: unknown; result?: unknown; stdout?: unknown; errorType?: unknown; error?: unknown } | undefined;
  if (response === undefined || response === null || typeof response !== 'object') return 'the body is not a JSON object';
  if (response.ok !== true) return `ok is ${String(response.ok)} (${String(response.errorType)}: ${String(response.error)})`;
  const result = response.result as { n?: unknown; sq?: unknown; tag?: unknown } | null;
  if (result === null || typeof result !== 'object' || result.n !== n || result.sq !== n * n || result.tag !== tag) {
    return `wrong result ${JSON.stringify(response.result)} for n=${n} tag=${tag}`;
  }
  if (response.stdout !== `${n}\n`) return `wrong stdout ${JSON.stringify(response.stdout)} for n=${n}`;
  return undefined;
}

/** A sentence: starts with a capital or a quote and says something, as the contract's messages do. */
export function isSentence(text: unknown): boolean {
  return typeof text === 'string' && text.trim().length >= 10 && /^['A-Z]/.test(text.trim());
}

/** Why an HTTP API error reply is not a clean JSON error, or undefined when it is. */
export function uncleanApiError(reply: Reply, allowedStatuses: readonly number[], allowedTypes?: readonly string[]): string | undefined {
  if (!allowedStatuses.includes(reply.status)) return `status ${reply.status}, expected one of ${allowedStatuses.join('/')}: ${reply.text.slice(0, 300)}`;
  const contentType = String(reply.headers['content-type'] ?? '');
  if (!contentType.startsWith('application/json')) return `status ${reply.status} with Content-Type ${contentType || 'none'}`;
  const body = reply.json as { ok?: unknown; error?: unknown; errorType?: unknown } | undefined;
  if (body === undefined || body === null || typeof body !== 'object') return `status ${reply.status} with a body that is not JSON: ${reply.text.slice(0, 200)}`;
  if (body.ok === true) return `status ${reply.status} but ok is true`;
  if (!isSentence(body.error)) return `status ${reply.status} without an error sentence: ${reply.text.slice(0, 300)}`;
  if (typeof body.errorType !== 'string') return `status ${reply.status} without an errorType: ${reply.text.slice(0, 300)}`;
  if (allowedTypes !== undefined && !allowedTypes.includes(body.errorType)) {
    return `errorType ${body.errorType}, expected one of ${allowedTypes.join('/')}: ${String(body.error)}`;
  }
  return undefined;
}

/** Why an Invoke API error reply is not a Lambda-shaped error (`{Type, message}` + x-amzn-ErrorType), or undefined. */
export function uncleanInvokeError(reply: Reply, allowedStatuses: readonly number[], allowedCodes?: readonly string[]): string | undefined {
  if (!allowedStatuses.includes(reply.status)) return `status ${reply.status}, expected one of ${allowedStatuses.join('/')}: ${reply.text.slice(0, 300)}`;
  const body = reply.json as { Type?: unknown; message?: unknown } | undefined;
  if (body === undefined || body === null || typeof body !== 'object') return `status ${reply.status} with a body that is not JSON: ${reply.text.slice(0, 200)}`;
  if (!isSentence(body.message)) return `status ${reply.status} without a message sentence: ${reply.text.slice(0, 300)}`;
  const code = reply.headers['x-amzn-errortype'];
  if (typeof code !== 'string' || code === '') return `status ${reply.status} without x-amzn-ErrorType`;
  if (allowedCodes !== undefined && !allowedCodes.includes(code)) return `x-amzn-ErrorType ${code}, expected one of ${allowedCodes.join('/')}`;
  return undefined;
}

/** Counts of outcomes by a label such as `200`, `504 ExecutorTimeout`, `transport: socket hang up`. */
export class Tally {
  readonly counts = new Map<string, number>();

  add(label: string): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }

  get(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  toString(): string {
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([label, count]) => `${label}: ${count}`)
      .join(', ');
  }
}

export function labelOf(reply: Reply): string {
  if (reply.status === 200) return '200';
  const body = reply.json as { errorType?: unknown } | undefined;
  const code = reply.headers['x-amzn-errortype'];
  return `${reply.status} ${typeof body?.errorType === 'string' ? body.errorType : typeof code === 'string' ? code : 'non-JSON'}`;
}

/** Runs `count` tasks with at most `concurrency` at a time. */
export async function runPool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  });
  await Promise.all(lanes);
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, but it is "${raw}".`);
  return value;
}
