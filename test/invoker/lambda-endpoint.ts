import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the endpoint answers to one invocation. */
export interface InvokeReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string is sent as is (for malformed payloads); anything else as JSON. */
  readonly body?: unknown;
  /** Never answer: the client's own timeout has to end the call. */
  readonly hang?: boolean;
}

export interface RecordedInvocation {
  readonly functionName: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly payload: string;
}

export type Responder = (event: unknown, invocation: RecordedInvocation) => InvokeReply;

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * A small real HTTP server on 127.0.0.1 that speaks the Lambda Invoke API
 * (restJson1, as @aws-sdk/client-lambda expects it): the function's payload
 * as the body, X-Amz-Function-Error for function errors, and AWS error
 * shapes with x-amzn-ErrorType for service errors. Canned answers come from
 * `respond`; every invocation is recorded for assertions.
 */
export class LambdaEndpoint {
  readonly invocations: RecordedInvocation[] = [];
  respond: Responder = () => ({ body: { ok: true } });
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor(readonly functionName = 'workflow-python-executor') {
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    // Hanging invocations keep their sockets open; close them so the server can stop.
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const match = INVOKE_PATH.exec(request.url ?? '');
      if (request.method !== 'POST' || !match) {
        this.send(response, { status: 404, headers: { 'x-amzn-ErrorType': 'UnknownOperationException' }, body: { message: 'Unknown operation' } });
        return;
      }
      const functionName = decodeURIComponent(match[1]!);
      const invocation: RecordedInvocation = { functionName, headers: request.headers, payload: Buffer.concat(chunks).toString('utf8') };
      this.invocations.push(invocation);
      if (functionName !== this.functionName) {
        this.send(response, {
          status: 404,
          headers: { 'x-amzn-ErrorType': 'ResourceNotFoundException' },
          body: { Type: 'User', Message: `Function not found: arn:aws:lambda:us-east-1:000000000000:function:${functionName}` },
        });
        return;
      }
      let event: unknown;
      try {
        event = JSON.parse(invocation.payload);
      } catch {
        event = undefined;
      }
      this.send(response, this.respond(event, invocation));
    });
  }

  private send(response: http.ServerResponse, reply: InvokeReply): void {
    if (reply.hang) return;
    const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? null);
    response.writeHead(reply.status ?? 200, {
      'Content-Type': 'application/json',
      'X-Amz-Executed-Version': '$LATEST',
      'x-amzn-RequestId': 'test-request-id',
      ...reply.headers,
    });
    response.end(body);
  }
}

/** A function error as Lambda reports it: 200, X-Amz-Function-Error, the error object as payload. */
export function functionError(errorType: string, errorMessage: string): InvokeReply {
  return { headers: { 'X-Amz-Function-Error': 'Unhandled' }, body: { errorType, errorMessage } };
}

/** A service error of the Invoke API in the restJson1 shape. */
export function serviceError(status: number, errorType: string, body: Record<string, unknown> = {}): InvokeReply {
  return { status, headers: { 'x-amzn-ErrorType': errorType }, body: { Type: status >= 500 ? 'Service' : 'User', message: `${errorType} from the test endpoint`, ...body } };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
