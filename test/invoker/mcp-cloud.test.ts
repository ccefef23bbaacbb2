import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import type { InvokerHandler } from '../../invoker/invoker';
import { LambdaEndpoint, serviceError } from './lambda-endpoint';
import { apiEvent, captureOutput, executorOk, invokerFor, lambdaContext } from './support';

/*
 * POST /mcp in cloud mode (ARTIFACT_BUCKET set): run_python's PNG artifacts
 * are uploaded by the executor to S3, so the invoker fetches their bytes
 * through the presigned GET URL it signed. S3 cannot run here: a loopback
 * listener stands in for it as the S3 client's endpoint and serves
 * what the executor would have uploaded.
 */

const BUCKET = 'spe-artifacts-123456789012-eu-west-1';
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a picture')]);
const endpoint = new LambdaEndpoint();
const s3Requests: string[] = [];
let s3: Server;
let handler: InvokerHandler;

beforeAll(async () => {
  s3 = createServer((req, res) => {
    s3Requests.push(req.url!);
    if (req.url!.includes('/figure-1.png?')) res.writeHead(200, { 'Content-Type': 'image/png' }).end(PNG);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => s3.listen(0, '127.0.0.1', resolve));
  const s3Client = new S3Client({
    endpoint: `http://127.0.0.1:${(s3.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });
  handler = invokerFor({ LAMBDA_ENDPOINT: await endpoint.start(), ARTIFACT_BUCKET: BUCKET }, { s3: s3Client, observability: { logLevel: 'INFO' } });
});

afterAll(async () => {
  await endpoint.stop();
  await new Promise((resolve) => s3.close(resolve));
});

function callTool(requestId: string, args: Record<string, unknown>) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_python', arguments: args } });
  return handler(apiEvent({ path: '/mcp', body, requestId, headers: { Accept: 'application/json, text/event-stream' } }), lambdaContext());
}

it('returns a PNG artifact stored in S3 as image content, fetched through its presigned URL, and logs the execution', async () => {
  endpoint.respond = () => ({
    body: executorOk({
      result: 'plotted',
      artifacts: [
        { name: 'figure-1.png', contentType: 'image/png', size: PNG.length, key: 'executions/mcp-cloud-1/figure-1.png' },
        { name: 'data.csv', contentType: 'text/csv', size: 4, key: 'executions/mcp-cloud-1/data.csv' },
      ],
    }),
  });
  const { result: answer, lines } = await captureOutput(() => callTool('mcp-cloud-1', { script: 'pass' }));
  expect(answer.statusCode).toBe(200);
  const { result } = JSON.parse(answer.body) as { result: { isError: boolean; content: { type: string; data?: string; text?: string }[] } };
  expect(result.isError).toBe(false);
  const images = result.content.filter((block) => block.type === 'image');
  expect(images).toEqual([{ type: 'image', mimeType: 'image/png', data: PNG.toString('base64') }]);
  // Only the image was fetched, by the URL the invoker signed for this execution's key.
  expect(s3Requests).toHaveLength(1);
  expect(s3Requests[0]).toMatch(new RegExp(`^/${BUCKET}/executions/mcp-cloud-1/figure-1\\.png\\?.*X-Amz-Signature=`));
  expect(result.content.find((block) => block.text?.startsWith('artifacts:'))?.text).toContain('data.csv (text/csv, 4 bytes)');
  const logLine = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.message === 'request');
  expect(logLine).toMatchObject({ level: 'INFO', route: '/mcp', status: 200, artifacts: 2 });
});

it('answers a throttled executor as a tool error with the errorType, and logs the fault the caller does not see', async () => {
  endpoint.respond = () => serviceError(429, 'TooManyRequestsException');
  const { result: answer, lines } = await captureOutput(() => callTool('mcp-cloud-2', { script: 'pass' }));
  expect(answer.statusCode).toBe(200);
  const { result } = JSON.parse(answer.body) as { result: { isError: boolean; content: { text: string }[] } };
  expect(result.isError).toBe(true);
  expect(result.content[0]!.text).toMatch(/^Throttled: /);
  const logLine = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.message === 'request');
  expect(logLine).toMatchObject({ level: 'WARN', route: '/mcp', status: 200, errorType: 'Throttled', fault: { reportedAs: 'Throttled' } });
});
