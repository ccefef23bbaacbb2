/**
 * A pool of simulated execution environments with a bounded FIFO queue.
 *
 * Lambda itself does not queue synchronous invocations (it throttles); the
 * local pool queues a little so a laptop with two runtimes can absorb a
 * burst, and refuses beyond QUEUE_LIMIT, which the Invoke API reports as
 * Lambda's throttle.
 */
import { randomUUID } from 'node:crypto';
import {
  errorDocument,
  RuntimeEnvironment,
  type Invocation,
  type InvocationOutcome,
  type RuntimeEnvironmentOptions,
  type RuntimeHealth,
} from './runtime-emulator';

export class QueueFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueFullError';
  }
}

export class PoolStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolStoppedError';
  }
}

export class InvocationCancelledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvocationCancelledError';
  }
}

export interface RuntimePoolOptions {
  readonly size: number;
  readonly queueLimit: number;
  readonly functionArn: string;
  /** Builds the options of runtime slot N (1-based). */
  readonly environmentOptions: (slot: number) => RuntimeEnvironmentOptions;
}

export interface InvokeOptions {
  readonly payload: Buffer;
  readonly clientContext?: string;
  /** Aborting removes a queued invocation; a running one completes, as on Lambda. */
  readonly signal?: AbortSignal;
}

export interface PoolHealth {
  readonly size: number;
  readonly idle: number;
  readonly busy: number;
  readonly queued: number;
  readonly queueLimit: number;
  readonly runtimes: readonly RuntimeHealth[];
}

interface Queued {
  readonly invocation: Invocation;
  readonly resolve: (outcome: InvocationOutcome) => void;
  readonly reject: (error: Error) => void;
  readonly cleanup: () => void;
}

export class RuntimePool {
  private readonly environments: RuntimeEnvironment[] = [];
  private readonly queue: Queued[] = [];
  private running = 0;
  private stopped = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: RuntimePoolOptions) {
    for (let slot = 1; slot <= options.size; slot += 1) {
      const environment = new RuntimeEnvironment(options.environmentOptions(slot));
      environment.on('idle', () => this.schedule());
      environment.on('initFailed', () => this.onInitFailed());
      environment.on('stateChange', () => this.notifyIdleWaiters());
      this.environments.push(environment);
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.environments.map((environment) => environment.start()));
  }

  /** Resolves once at least one runtime waits for work, or rejects after timeoutMs. */
  waitForFirstReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => this.environments.some((environment) => environment.isIdle);
      if (check()) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.idleWaiters.delete(waiter);
        const errors = this.environments.map((e) => e.lastError).filter((e): e is string => e !== null);
        reject(new Error(`No runtime became ready within ${timeoutMs} ms${errors.length > 0 ? `; last error: ${errors[errors.length - 1]}` : ''}.`));
      }, timeoutMs);
      const waiter = (): void => {
        if (check()) {
          clearTimeout(timer);
          this.idleWaiters.delete(waiter);
          resolve();
        }
      };
      this.idleWaiters.add(waiter);
    });
  }

  invoke(options: InvokeOptions): Promise<InvocationOutcome> {
    if (this.stopped) {
      return Promise.reject(new PoolStoppedError('The local server is shutting down and accepts no new invocations.'));
    }
    const invocation: Invocation = {
      requestId: randomUUID(),
      payload: options.payload,
      functionArn: this.options.functionArn,
      clientContext: options.clientContext,
    };
    const failing = this.allFailingInit();
    if (failing !== undefined) {
      return Promise.resolve(failing(invocation));
    }
    if (options.signal?.aborted) {
      return Promise.reject(new InvocationCancelledError('The caller went away before the invocation started.'));
    }
    // A runtime still recycling after its last invocation ('finishing') takes the next one within moments:
    // it counts as free, so only work beyond the runtimes and QUEUE_LIMIT is ever turned away.
    const free = this.environments.filter((environment) => environment.isIdle || environment.state === 'finishing').length;
    if (this.queue.length >= this.options.queueLimit + free) {
      return Promise.reject(
        new QueueFullError(
          `Rate exceeded: all ${this.options.size} local runtimes are busy and ${this.queue.length} invocations are already waiting ` +
            '(QUEUE_LIMIT); retry shortly or raise SANDBOX_CONCURRENCY or QUEUE_LIMIT.',
        ),
      );
    }
    return new Promise<InvocationOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.queue.indexOf(entry);
        if (index >= 0) {
          this.queue.splice(index, 1);
          reject(new InvocationCancelledError('The caller went away while the invocation was queued.'));
        }
      };
      const entry: Queued = {
        invocation,
        resolve: (outcome) => {
          this.running -= 1;
          resolve(outcome);
          this.schedule();
        },
        reject,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.schedule();
    });
  }

  health(): PoolHealth {
    const runtimes = this.environments.map((environment) => environment.health());
    return {
      size: this.options.size,
      idle: runtimes.filter((runtime) => runtime.state === 'idle').length,
      busy: runtimes.filter((runtime) => runtime.state === 'busy' || runtime.state === 'finishing').length,
      queued: this.queue.length,
      queueLimit: this.options.queueLimit,
      runtimes,
    };
  }

  /** Stops taking work and fails everything still queued. */
  refuseNewWork(): void {
    this.stopped = true;
    for (const entry of this.queue.splice(0)) {
      entry.cleanup();
      entry.reject(new PoolStoppedError('The local server is shutting down; this invocation was still queued and never ran.'));
    }
  }

  /** Waits until no invocation is running, at most graceMs. */
  async drain(graceMs: number): Promise<boolean> {
    const deadline = Date.now() + graceMs;
    while (this.running > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.running === 0;
  }

  async stop(reason: string): Promise<void> {
    this.refuseNewWork();
    await Promise.all(this.environments.map((environment) => environment.stop(reason)));
  }

  private schedule(): void {
    while (this.queue.length > 0) {
      const environment = this.environments.find((candidate) => candidate.isIdle);
      if (environment === undefined) {
        return;
      }
      const entry = this.queue.shift() as Queued;
      entry.cleanup();
      this.running += 1;
      if (!environment.dispatch(entry.invocation, entry.resolve)) {
        this.running -= 1;
        this.queue.unshift(entry);
        return;
      }
    }
  }

  private notifyIdleWaiters(): void {
    for (const waiter of [...this.idleWaiters]) {
      waiter();
    }
  }

  /**
   * When every runtime keeps failing its init, waiting would hang callers
   * forever; Lambda answers such invocations with the init failure instead.
   */
  private allFailingInit(): ((invocation: Invocation) => InvocationOutcome) | undefined {
    if (!this.environments.every((environment) => environment.initFailures > 0)) {
      return undefined;
    }
    const reason = this.environments.map((environment) => environment.lastError).find((error) => error !== null) ?? 'init failed';
    return (invocation) => ({
      kind: 'functionError',
      payload: errorDocument('Runtime.ExitError', `RequestId: ${invocation.requestId} Error: ${reason}`),
      errorType: 'Runtime.ExitError',
      logTail: '',
      durationMs: 0,
    });
  }

  private onInitFailed(): void {
    const failing = this.allFailingInit();
    if (failing === undefined) {
      return;
    }
    for (const entry of this.queue.splice(0)) {
      entry.cleanup();
      this.running += 1; // balanced by the decrement in entry.resolve
      entry.resolve(failing(entry.invocation));
    }
  }
}
