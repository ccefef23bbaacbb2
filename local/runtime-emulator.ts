/**
 * One simulated Lambda execution environment: a loopback HTTP server that
 * implements the Lambda Runtime API (2018-06-01) for exactly one runtime
 * process, and the supervision Lambda applies to that process.
 *
 * Behaviour follows the real service (and aws-lambda-runtime-interface-emulator):
 * - `GET /runtime/invocation/next` long-polls until an invocation is assigned;
 *   calling it marks the end of the previous invocation (post-response work
 *   counts against the function timeout, as on Lambda). Every caller is
 *   parked, and the oldest one gets the next event, whoever it is;
 * - a `/next` while an invocation is active is answered at once with that
 *   same event again, as the RIE does (its RuntimeReadyState.Ready() returns
 *   without waiting and the active InvokeRenderer renders the event again:
 *   lambda/core/states.go, lambda/rapi/rendering/rendering.go). AWS does not
 *   document real Lambda refusing it, so nothing in this project may rely on
 *   such a refusal: the executor kills every process an execution started
 *   before it posts the response and asks for the next event;
 * - `POST /runtime/invocation/{id}/response|error` answer 202, 400
 *   `InvalidRequestID` for an id that is not the active invocation, 403
 *   `InvalidStateTransition` when no invocation is active, 413 for a
 *   response above 6 MB;
 * - `POST /runtime/init/error` is accepted only during init;
 * - a runtime that exceeds the function timeout, exits or reports an init
 *   error is killed with everything it started and a new one is started;
 *   the invocation it held is answered with the error Lambda would give
 *   (`Sandbox.Timedout`, `Runtime.ExitError`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { killFamily, rememberFamily, type KnownMembers } from './process-tree';
import { answerMalformedRequests, readBody, sendJson } from './http-util';
import { removeRuntimeStateDirs } from './state-dirs';

/** Lambda's synchronous response payload limit (the RIE's MaxPayloadSize). */
const MAX_RUNTIME_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;
/** Log tail returned with `LogType: Tail`, as Lambda does (last 4 KB). */
const LOG_TAIL_BYTES = 4096;
const RUNTIME_API_BODY_TIMEOUT_MS = 30000;
/**
 * How long a runtime asked to stop (SIGTERM) may take to kill its worker and
 * remove its state folder before it is SIGKILLed. Lambda gives a runtime
 * with extensions 500 ms; a busy laptop needs longer.
 */
const STOP_GRACE_MS = 3000;

export interface Invocation {
  /** Lambda request id, sent as Lambda-Runtime-Aws-Request-Id. */
  readonly requestId: string;
  readonly payload: Buffer;
  readonly functionArn: string;
  readonly clientContext?: string;
  /** The tenant it belongs to (tenancy perTenant), sent as Lambda-Runtime-Aws-Tenant-Id. */
  readonly tenantId?: string;
}

export type InvocationOutcome =
  | { readonly kind: 'response'; readonly payload: Buffer; readonly logTail: string; readonly durationMs: number }
  | {
      readonly kind: 'functionError';
      /** Lambda's error document: `{"errorType", "errorMessage", ...}`. */
      readonly payload: Buffer;
      readonly errorType: string;
      readonly logTail: string;
      readonly durationMs: number;
    };

type RuntimeState = 'starting' | 'idle' | 'busy' | 'finishing' | 'restarting' | 'stopped';

export interface RuntimeEnvironmentOptions {
  /** 1-based slot number, used in logs and health. */
  readonly slot: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The runtime's whole environment except AWS_LAMBDA_RUNTIME_API, TMPDIR and HOME, which are added here. */
  readonly env: Readonly<Record<string, string>>;
  /** Private temporary directory, wiped before each start. */
  readonly tmpDir: string;
  readonly functionTimeoutMs: number;
  readonly initTimeoutMs: number;
  readonly sandboxUid?: number;
  /** The one tenant this environment serves (tenancy perTenant); undefined serves invocations without a tenant. */
  readonly tenantId?: string;
  readonly logLine?: (line: string) => void;
}

export interface RuntimeHealth {
  readonly slot: number;
  readonly state: RuntimeState;
  readonly pid: number | null;
  readonly sandboxUid: number | null;
  readonly tenantId: string | null;
  readonly invocations: number;
  readonly restarts: number;
  readonly lastError: string | null;
  readonly lastInitMs: number | null;
}

interface ActiveInvocation {
  readonly invocation: Invocation;
  readonly startedAt: number;
  /** The Runtime API headers it was delivered with, sent again to a repeated /next. */
  readonly headers: Readonly<Record<string, string>>;
  /** Set on the first invocation of a runtime: its REPORT line carries the init duration, as Lambda's does. */
  readonly initDurationMs?: number;
  readonly resolve: (outcome: InvocationOutcome) => void;
  logTail: string;
}

interface Incarnation {
  readonly server: Server;
  readonly generation: number;
  child?: ChildProcess;
  pid?: number;
  startedAt: number;
  exited: boolean;
  /** Processes seen in its family, kept so those that left its session are found after it died. */
  readonly known: KnownMembers;
  readonly exitedPromise: Promise<void>;
  markExited: () => void;
}

export function errorDocument(errorType: string, errorMessage: string): Buffer {
  return Buffer.from(JSON.stringify({ errorType, errorMessage }));
}

/**
 * Events: `idle` (waiting in /next for work), `initFailed` (Error), `stateChange`.
 */
export class RuntimeEnvironment extends EventEmitter {
  private stateValue: RuntimeState = 'restarting';
  private incarnation: Incarnation | undefined;
  private generation = 0;
  /** Parked `/next` requests, oldest first. */
  private waitingNext: ServerResponse[] = [];
  private active: ActiveInvocation | undefined;
  private lastRequestId: string | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private initTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private invocationCount = 0;
  private restartCount = 0;
  private consecutiveInitFailures = 0;
  private lastErrorValue: string | null = null;
  private lastInitMs: number | null = null;
  /** Init duration not yet reported: the next invocation's REPORT line carries it. */
  private unreportedInitMs: number | undefined;
  private stopping = false;
  private outputBuffers = { stdout: '', stderr: '' };

  constructor(private readonly options: RuntimeEnvironmentOptions) {
    super();
  }

  get state(): RuntimeState {
    return this.stateValue;
  }

  get slot(): number {
    return this.options.slot;
  }

  /** Failed init attempts in a row; 0 once a runtime reached /next. */
  get initFailures(): number {
    return this.consecutiveInitFailures;
  }

  get lastError(): string | null {
    return this.lastErrorValue;
  }

  get pid(): number | undefined {
    return this.incarnation?.pid;
  }

  get tenantId(): string | undefined {
    return this.options.tenantId;
  }

  /** True when an invocation can be handed over right now. */
  get isIdle(): boolean {
    return this.stateValue === 'idle' && this.oldestWaitingNext() !== undefined;
  }

  health(): RuntimeHealth {
    return {
      slot: this.options.slot,
      state: this.stateValue,
      pid: this.incarnation?.exited === false ? (this.incarnation.pid ?? null) : null,
      sandboxUid: this.options.sandboxUid ?? null,
      tenantId: this.options.tenantId ?? null,
      invocations: this.invocationCount,
      restarts: this.restartCount,
      lastError: this.lastErrorValue,
      lastInitMs: this.lastInitMs,
    };
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.launch();
  }

  /**
   * Hands an invocation to the runtime waiting in /next. Returns false when
   * the runtime is not idle (the caller keeps the invocation queued).
   */
  dispatch(invocation: Invocation, resolve: (outcome: InvocationOutcome) => void): boolean {
    if (invocation.tenantId !== this.options.tenantId) {
      // The pool routes by tenant; this is the last line, so a routing bug can never hand one tenant's event to another's runtime.
      throw new Error(`Runtime ${this.options.slot} serves tenant ${this.options.tenantId ?? '(none)'} and refuses an invocation of tenant ${invocation.tenantId ?? '(none)'}.`);
    }
    const next = this.stateValue === 'idle' ? this.oldestWaitingNext() : undefined;
    if (next === undefined) {
      return false;
    }
    this.waitingNext.shift();
    const startedAt = Date.now();
    const deadlineMs = startedAt + this.options.functionTimeoutMs;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': invocation.requestId,
      'Lambda-Runtime-Deadline-Ms': String(deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': invocation.functionArn,
      'Lambda-Runtime-Trace-Id': traceHeader(),
      'Content-Length': String(invocation.payload.length),
    };
    if (invocation.clientContext !== undefined) {
      headers['Lambda-Runtime-Client-Context'] = invocation.clientContext;
    }
    if (invocation.tenantId !== undefined) {
      // As Lambda's Runtime API does (awslambdaric reads it into context.tenant_id).
      headers['Lambda-Runtime-Aws-Tenant-Id'] = invocation.tenantId;
    }
    this.active = {
      invocation,
      startedAt,
      resolve,
      headers,
      initDurationMs: this.unreportedInitMs,
      logTail: `START RequestId: ${invocation.requestId} Version: $LATEST\n`,
    };
    this.unreportedInitMs = undefined;
    this.lastRequestId = invocation.requestId;
    this.invocationCount += 1;
    this.setState('busy');
    deliver(next, headers, invocation.payload);
    this.deadlineTimer = setTimeout(() => this.onDeadline(), this.options.functionTimeoutMs);
    return true;
  }

  /** Kills the runtime and everything it started; answers a held invocation with an error. */
  async stop(reason: string): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.initTimer);
    clearTimeout(this.deadlineTimer);
    this.failActive('Runtime.ExitError', `Error: Runtime exited with error: ${reason}`);
    const incarnation = this.incarnation;
    this.setState('stopped');
    if (incarnation !== undefined) {
      await this.askToExit(incarnation);
      await this.teardown(incarnation);
    }
    rmSync(this.options.tmpDir, { recursive: true, force: true });
  }

  /**
   * SIGTERM first, as Lambda ends a runtime at shutdown: the executor then
   * kills its worker and removes its own state folder. Whatever is still
   * alive after STOP_GRACE_MS is SIGKILLed by the teardown.
   */
  private async askToExit(incarnation: Incarnation): Promise<void> {
    if (incarnation.pid === undefined || incarnation.child === undefined || incarnation.exited) {
      return;
    }
    // Listed while the runtime lives: a process that left its session can be traced to it only now.
    rememberFamily({ leaderPid: incarnation.pid, sandboxUid: this.options.sandboxUid }, incarnation.known);
    try {
      process.kill(incarnation.pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    await Promise.race([incarnation.exitedPromise, delay(STOP_GRACE_MS)]);
  }

  private setState(state: RuntimeState): void {
    if (this.stateValue !== state) {
      this.stateValue = state;
      this.emit('stateChange', state);
    }
  }

  private async launch(): Promise<void> {
    this.generation += 1;
    const generation = this.generation;
    this.setState('starting');
    rmSync(this.options.tmpDir, { recursive: true, force: true });
    mkdirSync(this.options.tmpDir, { recursive: true, mode: 0o700 });

    let markExited: () => void = () => undefined;
    const exitedPromise = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const server = createServer((req, res) => this.handleRuntimeApi(generation, req, res));
    // The /next long poll may legitimately wait for hours between invocations.
    server.requestTimeout = 0;
    server.headersTimeout = 10000;
    server.keepAliveTimeout = 0;
    answerMalformedRequests(server, (problem) => ({ body: { errorType: 'InvalidRequest', errorMessage: problem.message } }));
    const incarnation: Incarnation = { server, generation, startedAt: Date.now(), exited: false, known: new Map(), exitedPromise, markExited };
    this.incarnation = incarnation;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    if (generation !== this.generation || this.stopping) {
      server.close();
      return;
    }
    const port = (server.address() as AddressInfo).port;
    const env: Record<string, string> = {
      ...this.options.env,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
      TMPDIR: this.options.tmpDir,
      HOME: this.options.tmpDir,
    };
    if (this.options.sandboxUid !== undefined) {
      env.EXECUTOR_SANDBOX_UID = String(this.options.sandboxUid);
    }
    incarnation.startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(this.options.command, [...this.options.args], {
        cwd: this.options.cwd,
        env,
        // Own session and process group, so the whole family can be found and killed.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      this.onIncarnationEnd(incarnation, `could not start ${this.options.command}: ${(error as Error).message}`, true);
      return;
    }
    incarnation.child = child;
    incarnation.pid = child.pid;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => this.onOutput('stdout', text));
    child.stderr?.on('data', (text: string) => this.onOutput('stderr', text));
    child.on('error', (error) => {
      incarnation.exited = true;
      incarnation.markExited();
      if (generation === this.generation) {
        this.onIncarnationEnd(incarnation, `could not start ${this.options.command}: ${error.message}`, true);
      }
    });
    child.on('exit', (code, signal) => {
      incarnation.exited = true;
      incarnation.markExited();
      if (generation === this.generation && !this.stopping) {
        const how = signal !== null ? `signal: ${signalName(signal)}` : `exit status ${code ?? 'unknown'}`;
        this.onIncarnationEnd(incarnation, `Runtime exited with error: ${how}`, this.stateValue === 'starting');
      }
    });
    this.initTimer = setTimeout(() => {
      if (generation === this.generation && this.stateValue === 'starting') {
        this.onIncarnationEnd(
          incarnation,
          `Runtime did not ask for its first invocation within ${this.options.initTimeoutMs} ms of starting (init timeout).`,
          true,
        );
      }
    }, this.options.initTimeoutMs);
  }

  private onOutput(stream: 'stdout' | 'stderr', text: string): void {
    const combined = this.outputBuffers[stream] + text;
    const lines = combined.split('\n');
    this.outputBuffers[stream] = lines.pop() ?? '';
    // A runtime that never ends a line must not grow the buffer without bound.
    if (this.outputBuffers[stream].length > 65536) {
      lines.push(this.outputBuffers[stream]);
      this.outputBuffers[stream] = '';
    }
    for (const line of lines) {
      if (this.active !== undefined) {
        this.active.logTail = tail(this.active.logTail + line + '\n', LOG_TAIL_BYTES * 2);
      }
      this.options.logLine?.(line);
    }
  }

  private onDeadline(): void {
    const seconds = (this.options.functionTimeoutMs / 1000).toFixed(2);
    if (this.active !== undefined) {
      this.failActive('Sandbox.Timedout', `Error: Task timed out after ${seconds} seconds`);
    }
    const incarnation = this.incarnation;
    if (incarnation !== undefined) {
      this.onIncarnationEnd(incarnation, `Task timed out after ${seconds} seconds; the runtime was killed and restarted.`, false);
    }
  }

  /** Answers the active invocation with a Lambda-style function error. */
  private failActive(errorType: string, message: string): void {
    const active = this.active;
    if (active === undefined) {
      return;
    }
    this.active = undefined;
    clearTimeout(this.deadlineTimer);
    const durationMs = Date.now() - active.startedAt;
    active.resolve({
      kind: 'functionError',
      payload: errorDocument(errorType, `RequestId: ${active.invocation.requestId} ${message}`),
      errorType,
      logTail: this.finishLog(active, durationMs),
      durationMs,
    });
  }

  /**
   * The current runtime is finished (exit, timeout, init failure): kill it and
   * everything it started, then start a new one (after a backoff when init keeps failing).
   */
  private onIncarnationEnd(incarnation: Incarnation, reason: string, duringInit: boolean): void {
    if (incarnation.generation !== this.generation || this.stopping) {
      return;
    }
    // Invalidate the incarnation first so its late requests and exit are ignored.
    this.generation += 1;
    clearTimeout(this.initTimer);
    clearTimeout(this.deadlineTimer);
    this.lastErrorValue = reason;
    this.failActive('Runtime.ExitError', `Error: ${reason}`);
    this.setState('restarting');
    let delayMs = 0;
    if (duringInit) {
      this.consecutiveInitFailures += 1;
      delayMs = Math.min(30000, 250 * 2 ** (this.consecutiveInitFailures - 1));
      this.emit('initFailed', new Error(reason));
    }
    this.restartCount += 1;
    this.options.logLine?.(`runtime ${this.options.slot} restarting: ${reason}`);
    void this.teardown(incarnation).then(() => {
      if (this.stopping) {
        return;
      }
      this.restartTimer = setTimeout(() => {
        if (!this.stopping) {
          void this.launch().catch((error: Error) => this.onLaunchFailure(error));
        }
      }, delayMs);
    });
  }

  private onLaunchFailure(error: Error): void {
    this.lastErrorValue = `Could not start the runtime: ${error.message}`;
    this.consecutiveInitFailures += 1;
    this.emit('initFailed', error);
    this.restartTimer = setTimeout(() => void this.launch().catch((e: Error) => this.onLaunchFailure(e)), 5000);
  }

  private async teardown(incarnation: Incarnation): Promise<void> {
    for (const waiting of this.waitingNext.splice(0)) {
      waiting.destroy();
    }
    if (incarnation.pid !== undefined) {
      await this.killAll(incarnation.pid, incarnation.known);
    }
    incarnation.server.closeAllConnections();
    await new Promise<void>((resolve) => incarnation.server.close(() => resolve()));
    if (incarnation.child !== undefined && !incarnation.exited) {
      // SIGKILL cannot be ignored; the exit event follows promptly, but never wait forever.
      await Promise.race([incarnation.exitedPromise, delay(5000)]);
    }
    if (incarnation.pid !== undefined) {
      // Stragglers forked between the first sweep and the leader's death.
      await this.killAll(incarnation.pid, incarnation.known);
      // A SIGKILLed runtime could not remove its state folder.
      await removeRuntimeStateDirs(incarnation.pid).catch((error: Error) =>
        this.options.logLine?.(`runtime ${this.options.slot}: could not remove the old runtime's state folder: ${error.message}`),
      );
    }
  }

  private async killAll(leaderPid: number, known: KnownMembers): Promise<void> {
    const alive = await killFamily({ leaderPid, sandboxUid: this.options.sandboxUid }, undefined, known);
    if (alive > 0) {
      this.options.logLine?.(`runtime ${this.options.slot}: ${alive} process(es) of the old runtime survived SIGKILL (uninterruptible?); check with ps.`);
    }
  }

  private handleRuntimeApi(generation: number, req: IncomingMessage, res: ServerResponse): void {
    if (generation !== this.generation) {
      sendJson(res, 403, { errorType: 'InvalidStateTransition', errorMessage: 'This runtime has been replaced.' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://runtime.local');
    const path = url.pathname;
    const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path);
    if (path === '/2018-06-01/runtime/invocation/next') {
      if (req.method !== 'GET') {
        sendJson(res, 405, { errorType: 'MethodNotAllowed', errorMessage: 'Use GET for /runtime/invocation/next.' });
        return;
      }
      this.onNext(req, res);
    } else if (match !== null) {
      if (req.method !== 'POST') {
        sendJson(res, 405, { errorType: 'MethodNotAllowed', errorMessage: `Use POST for /runtime/invocation/{id}/${match[2]}.` });
        return;
      }
      void this.onResult(generation, decodeURIComponent(match[1]), match[2] as 'response' | 'error', req, res);
    } else if (path === '/2018-06-01/runtime/init/error') {
      if (req.method !== 'POST') {
        sendJson(res, 405, { errorType: 'MethodNotAllowed', errorMessage: 'Use POST for /runtime/init/error.' });
        return;
      }
      void this.onInitError(generation, req, res);
    } else {
      sendJson(res, 404, { errorType: 'NotFound', errorMessage: `No Runtime API route ${req.method} ${path} in this emulator.` });
    }
  }

  private onNext(req: IncomingMessage, res: ServerResponse): void {
    if (this.stopping) {
      // Asking for work while being stopped: it waits, as on Lambda, until the runtime is gone.
      req.resume();
      return;
    }
    if (this.stateValue === 'starting') {
      clearTimeout(this.initTimer);
      this.consecutiveInitFailures = 0;
      this.lastInitMs = Date.now() - (this.incarnation?.startedAt ?? Date.now());
      this.unreportedInitMs = this.lastInitMs;
    } else if (this.stateValue === 'finishing') {
      clearTimeout(this.deadlineTimer);
    } else if (this.stateValue === 'busy' && this.active !== undefined) {
      req.resume();
      deliver(res, this.active.headers, this.active.invocation.payload);
      return;
    }
    this.park(req, res);
  }

  private park(req: IncomingMessage, res: ServerResponse): void {
    this.waitingNext.push(res);
    res.on('close', () => {
      this.waitingNext = this.waitingNext.filter((waiting) => waiting !== res);
    });
    req.resume();
    this.markReady();
  }

  /** The runtime (or whoever else asked first) is waiting for work: the pool may dispatch. */
  private markReady(): void {
    this.setState('idle');
    this.emit('idle');
  }

  private oldestWaitingNext(): ServerResponse | undefined {
    this.waitingNext = this.waitingNext.filter((waiting) => !waiting.destroyed);
    return this.waitingNext[0];
  }

  private async onResult(
    generation: number,
    requestId: string,
    kind: 'response' | 'error',
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (this.stateValue !== 'busy' || this.active === undefined) {
      if (this.stateValue === 'finishing' && requestId === this.lastRequestId) {
        sendJson(res, 400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' });
      } else {
        sendJson(res, 403, {
          errorType: 'InvalidStateTransition',
          errorMessage: `State transition from ${this.stateValue} to invocation ${kind} failed for runtime: no invocation is active.`,
        });
      }
      req.resume();
      return;
    }
    if (requestId !== this.active.invocation.requestId) {
      sendJson(res, 400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' });
      req.resume();
      return;
    }
    const active = this.active;
    const body = await readBody(req, { maxBytes: MAX_RUNTIME_RESPONSE_BYTES, timeoutMs: RUNTIME_API_BODY_TIMEOUT_MS });
    if (generation !== this.generation || this.active !== active) {
      // The invocation timed out or the runtime was replaced while the body arrived.
      sendJson(res, 400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' });
      return;
    }
    this.active = undefined;
    this.setState('finishing');
    const durationMs = Date.now() - active.startedAt;
    if (this.oldestWaitingNext() !== undefined) {
      // A /next parked earlier (by a second caller) is first in line for the
      // next event: the environment is ready again without the runtime asking.
      clearTimeout(this.deadlineTimer);
      this.markReady();
    }
    if (body.kind === 'tooLarge') {
      sendJson(res, 413, {
        errorType: 'RequestEntityTooLarge',
        errorMessage: `Exceeded maximum allowed payload size (${MAX_RUNTIME_RESPONSE_BYTES} bytes).`,
      });
      req.resume();
      active.resolve({
        kind: 'functionError',
        payload: errorDocument(
          'Function.ResponseSizeTooLarge',
          `Response payload size exceeded maximum allowed payload size (${MAX_RUNTIME_RESPONSE_BYTES} bytes).`,
        ),
        errorType: 'Function.ResponseSizeTooLarge',
        logTail: this.finishLog(active, durationMs),
        durationMs,
      });
      return;
    }
    if (body.kind !== 'ok') {
      active.resolve({
        kind: 'functionError',
        payload: errorDocument('Runtime.TruncatedResponse', 'The runtime did not finish sending its response.'),
        errorType: 'Runtime.TruncatedResponse',
        logTail: this.finishLog(active, durationMs),
        durationMs,
      });
      res.destroy();
      return;
    }
    sendJson(res, 202, { status: 'OK' });
    if (kind === 'response') {
      active.resolve({ kind: 'response', payload: body.body, logTail: this.finishLog(active, durationMs), durationMs });
      return;
    }
    const headerType = req.headers['lambda-runtime-function-error-type'];
    const { payload, errorType } = normaliseErrorBody(body.body, typeof headerType === 'string' ? headerType : undefined);
    active.resolve({ kind: 'functionError', payload, errorType, logTail: this.finishLog(active, durationMs), durationMs });
  }

  /**
   * The END and REPORT lines Lambda appends to an invocation's log, in its
   * field order. `Max Memory Used` is left out: Lambda measures the whole
   * execution environment, which a local process tree has no equivalent of.
   */
  private finishLog(active: ActiveInvocation, durationMs: number): string {
    const id = active.invocation.requestId;
    const fields = [
      `REPORT RequestId: ${id}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${Math.max(1, Math.ceil(durationMs))} ms`,
    ];
    const memorySize = this.options.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
    if (memorySize !== undefined) fields.push(`Memory Size: ${memorySize} MB`);
    if (active.initDurationMs !== undefined) fields.push(`Init Duration: ${active.initDurationMs.toFixed(2)} ms`);
    return tail(`${active.logTail}END RequestId: ${id}\n${fields.join('\t')}\n`, LOG_TAIL_BYTES);
  }

  private async onInitError(generation: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.stateValue !== 'starting') {
      sendJson(res, 403, {
        errorType: 'InvalidStateTransition',
        errorMessage: `State transition from ${this.stateValue} to init error failed for runtime: init has already completed.`,
      });
      req.resume();
      return;
    }
    const body = await readBody(req, { maxBytes: 1024 * 1024, timeoutMs: RUNTIME_API_BODY_TIMEOUT_MS });
    sendJson(res, 202, { status: 'OK' });
    const headerType = req.headers['lambda-runtime-function-error-type'];
    const { payload, errorType } = normaliseErrorBody(
      body.kind === 'ok' ? body.body : Buffer.alloc(0),
      typeof headerType === 'string' ? headerType : undefined,
    );
    let message = '';
    try {
      const parsed = JSON.parse(payload.toString('utf8')) as { errorMessage?: unknown };
      message = typeof parsed.errorMessage === 'string' ? parsed.errorMessage : '';
    } catch {
      message = '';
    }
    const incarnation = this.incarnation;
    if (incarnation !== undefined && incarnation.generation === generation) {
      this.onIncarnationEnd(incarnation, `Runtime reported an init error (${errorType}): ${message}`.trim(), true);
    }
  }
}

/** Lambda keeps the runtime's error document when it is a JSON object, else builds one from the header. */
function normaliseErrorBody(body: Buffer, headerType: string | undefined): { payload: Buffer; errorType: string } {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const record = parsed as Record<string, unknown>;
      const errorType = typeof record.errorType === 'string' ? record.errorType : (headerType ?? 'Runtime.Unknown');
      return { payload: body, errorType };
    }
  } catch {
    // Not JSON: fall through to a document built from the header.
  }
  const errorType = headerType ?? 'Runtime.Unknown';
  return { payload: errorDocument(errorType, 'The runtime reported an error without a JSON error document.'), errorType };
}

/** Answers a `/next` with an event and its Runtime API headers. */
function deliver(res: ServerResponse, headers: Readonly<Record<string, string>>, payload: Buffer): void {
  res.writeHead(200, headers);
  res.end(payload);
}


function tail(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) {
    return text;
  }
  // Cutting may split a multi-byte character; the decoder replaces the fragment.
  return bytes.subarray(bytes.length - maxBytes).toString('utf8');
}

function traceHeader(): string {
  const epochHex = Math.floor(Date.now() / 1000).toString(16);
  const random = randomUUID().replace(/-/g, '').slice(0, 24);
  const parent = randomUUID().replace(/-/g, '').slice(0, 16);
  return `Root=1-${epochHex}-${random};Parent=${parent};Sampled=0`;
}

function signalName(signal: NodeJS.Signals): string {
  // Lambda's wording is Go's signal text ("signal: killed").
  const names: Partial<Record<NodeJS.Signals, string>> = {
    SIGKILL: 'killed',
    SIGTERM: 'terminated',
    SIGSEGV: 'segmentation fault',
    SIGABRT: 'aborted',
    SIGINT: 'interrupt',
  };
  return names[signal] ?? signal;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
