/**
 * A pool of simulated execution environments with a bounded FIFO queue.
 *
 * Lambda itself does not queue synchronous invocations (it throttles); the
 * local pool queues a little so a laptop with two runtimes can absorb a
 * burst, and refuses beyond QUEUE_LIMIT, which the Invoke API reports as
 * Lambda's throttle.
 *
 * Tenancy follows Lambda's tenant isolation mode. With `perTenant` every
 * invocation names a tenant, and a runtime is dedicated to the tenant whose
 * invocation created it for its whole life: it is created on demand, serves
 * that tenant only, and when another tenant needs its place (at most `size`
 * runtimes exist over all tenants) the least recently used idle one is
 * retired, every process of it killed and its folder removed, before a new
 * runtime starts in its slot. With `shared`, `size` runtimes start at once
 * and serve anyone, as a function without tenant isolation does.
 */
import { randomUUID } from 'node:crypto';
import type { Tenancy } from '../contract';
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

/**
 * An invocation without a tenant id for a perTenant function, or with one for
 * a shared function. The message is the one Lambda documents for both
 * (Lambda developer guide, "Troubleshooting tenant isolation").
 */
export class TenantIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TenantIdError';
  }
}

interface RuntimePoolOptions {
  /** Runtimes at most, over all tenants. */
  readonly size: number;
  readonly queueLimit: number;
  /**
   * Longest an invocation waits in the queue; past it, it is refused
   * (QueueFullError) without running, so that its caller hears "no capacity"
   * in time instead of timing out while the work still waits to run.
   */
  readonly queueWaitMs: number;
  readonly functionArn: string;
  readonly tenancy: Tenancy;
  /** Builds the options of a runtime in slot N (1-based) dedicated to `tenantId` (undefined with tenancy shared). */
  readonly environmentOptions: (slot: number, tenantId: string | undefined) => RuntimeEnvironmentOptions;
  /** Where the pool reports a runtime it could not start or had to retire. */
  readonly logLine?: (line: string) => void;
}

interface InvokeOptions {
  readonly payload: Buffer;
  readonly clientContext?: string;
  /** Required with tenancy perTenant, refused with shared (as Lambda does). */
  readonly tenantId?: string;
  /** Aborting removes a queued invocation; a running one completes, as on Lambda. */
  readonly signal?: AbortSignal;
}

export interface PoolHealth {
  readonly size: number;
  readonly tenancy: Tenancy;
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

/** One place for a runtime; `size` of them. */
interface Slot {
  readonly environment: RuntimeEnvironment;
  /** When it last took an invocation (or was created): the least recent idle one is retired first. */
  lastUsedAt: number;
  /** Being stopped so that another tenant can have the slot; it takes no more work. */
  retiring: boolean;
}

/** Lambda's sentence for both tenant id mistakes (see TenantIdError). */
export const TENANT_ID_MISMATCH = 'Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled.';

export class RuntimePool {
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Queued[] = [];
  private running = 0;
  private stopped = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: RuntimePoolOptions) {
    this.slots = Array.from({ length: options.size }, () => undefined);
    if (options.tenancy === 'shared') {
      for (let index = 0; index < options.size; index += 1) this.slots[index] = this.createSlot(index, undefined);
    }
  }

  /** Starts the shared runtimes; with tenancy perTenant there are none until the first invocation. */
  async start(): Promise<void> {
    await Promise.all(this.liveSlots().map((slot) => slot.environment.start()));
  }

  /** Resolves once at least one runtime waits for work, or rejects after timeoutMs. */
  waitForFirstReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => this.environments().some((environment) => environment.isIdle);
      if (check()) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.idleWaiters.delete(waiter);
        const errors = this.environments().map((e) => e.lastError).filter((e): e is string => e !== null);
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
    try {
      this.checkTenantId(options.tenantId);
    } catch (error) {
      return Promise.reject(error as TenantIdError);
    }
    const invocation: Invocation = {
      requestId: randomUUID(),
      payload: options.payload,
      functionArn: this.options.functionArn,
      clientContext: options.clientContext,
      tenantId: options.tenantId,
    };
    const failing = this.allFailingInit(options.tenantId);
    if (failing !== undefined) {
      return Promise.resolve(failing(invocation));
    }
    if (options.signal?.aborted) {
      return Promise.reject(new InvocationCancelledError('The caller went away before the invocation started.'));
    }
    // Every place that is not running an invocation right now takes one within moments (an idle or
    // recycling runtime, one starting, or a slot another tenant's idle runtime can be retired from):
    // it counts as free, so only work beyond the runtimes and QUEUE_LIMIT is ever turned away.
    const free = this.slots.filter((slot) => slot === undefined || slot.environment.state !== 'busy').length;
    if (this.queue.length >= this.options.queueLimit + free) {
      return Promise.reject(
        new QueueFullError(
          `Rate exceeded: all ${this.options.size} local runtimes are busy and ${this.queue.length} invocations are already waiting ` +
            '(QUEUE_LIMIT); retry shortly or raise SANDBOX_CONCURRENCY or QUEUE_LIMIT.',
        ),
      );
    }
    return new Promise<InvocationOutcome>((resolve, reject) => {
      const drop = (error: Error): void => {
        const index = this.queue.indexOf(entry);
        if (index >= 0) {
          this.queue.splice(index, 1);
          entry.cleanup();
          reject(error);
        }
      };
      const onAbort = (): void => drop(new InvocationCancelledError('The caller went away while the invocation was queued.'));
      const waitedTooLong = setTimeout(
        () =>
          drop(
            new QueueFullError(
              `Rate exceeded: no local runtime became free within QUEUE_WAIT_MS (${this.options.queueWaitMs} ms), so the invocation ` +
                'was dropped before it ran; retry shortly or raise SANDBOX_CONCURRENCY.',
            ),
          ),
        this.options.queueWaitMs,
      );
      const entry: Queued = {
        invocation,
        resolve: (outcome) => {
          this.running -= 1;
          resolve(outcome);
          this.schedule();
        },
        reject,
        cleanup: () => {
          clearTimeout(waitedTooLong);
          options.signal?.removeEventListener('abort', onAbort);
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.schedule();
    });
  }

  /** True when an invocation of this tenant would start at once in a runtime that waits for work. */
  hasIdleRuntime(tenantId: string | undefined): boolean {
    return (
      !this.queue.some((entry) => entry.invocation.tenantId === tenantId) &&
      this.liveSlots().some((slot) => !slot.retiring && slot.environment.tenantId === tenantId && slot.environment.isIdle)
    );
  }

  /** Throws TenantIdError, as Lambda refuses the call, when the tenant id does not fit the tenancy. */
  checkTenantId(tenantId: string | undefined): void {
    if ((tenantId === undefined) === (this.options.tenancy === 'perTenant')) {
      const hint =
        this.options.tenancy === 'perTenant'
          ? ' This function runs with tenancy perTenant: pass a tenant id (header X-Amz-Tenant-Id, aws lambda invoke --tenant-id, or TenantId in the SDK).'
          : ' This function runs with tenancy shared: leave the tenant id out.';
      throw new TenantIdError(`${TENANT_ID_MISMATCH}${hint}`);
    }
  }

  health(): PoolHealth {
    const runtimes = this.environments().map((environment) => environment.health());
    return {
      size: this.options.size,
      tenancy: this.options.tenancy,
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
    await Promise.all(this.environments().map((environment) => environment.stop(reason)));
  }

  private liveSlots(): Slot[] {
    return this.slots.filter((slot): slot is Slot => slot !== undefined);
  }

  private environments(): RuntimeEnvironment[] {
    return this.liveSlots().map((slot) => slot.environment);
  }

  private createSlot(index: number, tenantId: string | undefined): Slot {
    const environment = new RuntimeEnvironment(this.options.environmentOptions(index + 1, tenantId));
    environment.on('idle', () => this.schedule());
    environment.on('initFailed', () => this.onInitFailed(tenantId));
    environment.on('stateChange', () => this.notifyIdleWaiters());
    return { environment, lastUsedAt: Date.now(), retiring: false };
  }

  private schedule(): void {
    for (const entry of [...this.queue]) {
      const slot = this.liveSlots().find(
        (candidate) => !candidate.retiring && candidate.environment.tenantId === entry.invocation.tenantId && candidate.environment.isIdle,
      );
      if (slot === undefined) continue;
      this.queue.splice(this.queue.indexOf(entry), 1);
      entry.cleanup();
      this.running += 1;
      slot.lastUsedAt = Date.now();
      if (!slot.environment.dispatch(entry.invocation, entry.resolve)) {
        this.running -= 1;
        this.queue.unshift(entry);
        return;
      }
    }
    if (this.options.tenancy === 'perTenant' && !this.stopped) this.provision();
  }

  /**
   * Starts runtimes for tenants whose invocations wait, oldest waiter first:
   * one per waiting invocation beyond the runtimes of that tenant that will
   * be free soon (starting, or recycling after an answer). A busy runtime
   * does not count, as Lambda too starts another environment instead of
   * making the second of two concurrent invocations wait.
   */
  private provision(): void {
    const waiting = new Map<string, number>();
    for (const entry of this.queue) {
      const tenantId = entry.invocation.tenantId!;
      waiting.set(tenantId, (waiting.get(tenantId) ?? 0) + 1);
    }
    // Slots already being vacated will come back empty and then go to the oldest waiter: retire no more for them.
    let vacating = this.liveSlots().filter((slot) => slot.retiring).length;
    for (const [tenantId, count] of waiting) {
      const coming = this.liveSlots().filter(
        (slot) => !slot.retiring && slot.environment.tenantId === tenantId && ['starting', 'restarting', 'finishing', 'idle'].includes(slot.environment.state),
      ).length;
      for (let needed = count - coming; needed > 0; needed -= 1) {
        const index = this.slots.indexOf(undefined);
        if (index >= 0) {
          this.launchSlot(index, tenantId);
        } else if (vacating > 0) {
          vacating -= 1;
        } else if (!this.retireOne(waiting)) {
          return;
        }
      }
    }
  }

  private launchSlot(index: number, tenantId: string): void {
    const slot = this.createSlot(index, tenantId);
    this.slots[index] = slot;
    slot.environment.start().catch((error: Error) => {
      // Could not even listen on loopback: nothing will serve this tenant from here, so its waiters get the fault.
      this.options.logLine?.(`runtime ${index + 1} for tenant ${tenantId} could not start: ${error.message}`);
      void this.vacate(index, slot, 'it could not start');
      for (const entry of this.queue.filter((queued) => queued.invocation.tenantId === tenantId)) {
        this.queue.splice(this.queue.indexOf(entry), 1);
        entry.cleanup();
        entry.reject(new Error(`A runtime for the tenant could not start: ${error.message}`));
      }
    });
  }

  /**
   * Retires the least recently used runtime that waits for work and whose
   * tenant has nothing queued (or one that keeps failing its init), so that
   * its slot can serve another tenant. False when there is none: every
   * runtime is busy, and the queue waits for one to finish.
   */
  private retireOne(waiting: ReadonlyMap<string, number>): boolean {
    const candidates = this.liveSlots()
      .map((slot) => ({ slot, index: this.slots.indexOf(slot) }))
      .filter(({ slot }) => !slot.retiring && !waiting.has(slot.environment.tenantId!) && (slot.environment.isIdle || slot.environment.initFailures > 0))
      .sort((left, right) => left.slot.lastUsedAt - right.slot.lastUsedAt);
    const oldest = candidates[0];
    if (oldest === undefined) return false;
    void this.vacate(oldest.index, oldest.slot, 'another tenant needs its place');
    return true;
  }

  /** Stops a slot's runtime (every process of it, its folder) and frees the slot only then. */
  private async vacate(index: number, slot: Slot, why: string): Promise<void> {
    slot.retiring = true;
    await slot.environment.stop(`retired: ${why}`);
    if (this.slots[index] === slot) this.slots[index] = undefined;
    this.schedule();
  }

  private notifyIdleWaiters(): void {
    for (const waiter of [...this.idleWaiters]) {
      waiter();
    }
  }

  /**
   * When every runtime of a tenant (with tenancy shared: every runtime) keeps
   * failing its init, waiting would hang its callers forever; Lambda answers
   * such invocations with the init failure instead.
   */
  private allFailingInit(tenantId: string | undefined): ((invocation: Invocation) => InvocationOutcome) | undefined {
    const own = this.environments().filter((environment) => environment.tenantId === tenantId);
    if (own.length === 0 || !own.every((environment) => environment.initFailures > 0)) {
      return undefined;
    }
    const reason = own.map((environment) => environment.lastError).find((error) => error !== null) ?? 'init failed';
    return (invocation) => ({
      kind: 'functionError',
      payload: errorDocument('Runtime.ExitError', `RequestId: ${invocation.requestId} Error: ${reason}`),
      errorType: 'Runtime.ExitError',
      logTail: '',
      durationMs: 0,
    });
  }

  private onInitFailed(tenantId: string | undefined): void {
    const failing = this.allFailingInit(tenantId);
    if (failing === undefined) {
      return;
    }
    for (const entry of this.queue.filter((queued) => queued.invocation.tenantId === tenantId)) {
      this.queue.splice(this.queue.indexOf(entry), 1);
      entry.cleanup();
      this.running += 1; // balanced by the decrement in entry.resolve
      entry.resolve(failing(entry.invocation));
    }
  }
}
