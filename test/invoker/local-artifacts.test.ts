import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { storedArtifactFileName } from '../../invoker/artifacts';
import { LambdaEndpoint } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import { bodyOf, executeEvent, executorOk, invokerFor, lambdaContext } from './support';

/*
 * Local mode (LOCAL_ARTIFACT_DIR and ARTIFACT_BASE_URL set by the local
 * server): inline artifacts from the executor are written under
 * <dir>/<requestId>/ and returned as URLs of the local server.
 */

const endpoint = new LambdaEndpoint();
let handler: InvokerHandler;
let artifactDir: string;
let endpointUrl: string;
const BASE_URL = 'http://127.0.0.1:3000/artifacts';

beforeAll(async () => {
  artifactDir = await fs.mkdtemp(path.join(os.tmpdir(), 'invoker-artifacts-'));
  endpointUrl = await endpoint.start();
  handler = invokerFor({ LAMBDA_ENDPOINT: endpointUrl, LOCAL_ARTIFACT_DIR: artifactDir, ARTIFACT_BASE_URL: `${BASE_URL}/` });
});

afterAll(async () => {
  await endpoint.stop();
  await fs.rm(artifactDir, { recursive: true, force: true });
});

const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]);

function inline(name: string, bytes: Buffer, contentType = 'application/octet-stream') {
  return { name, contentType, size: bytes.length, contentBase64: bytes.toString('base64') };
}

it('writes inline artifacts into <dir>/<requestId>/ and answers with their URLs, without the base64', async () => {
  endpoint.respond = () => ({ body: executorOk({ artifacts: [inline('figure-1.png', PNG_BYTES, 'image/png'), inline('report.txt', Buffer.from('hello\n'), 'text/plain; charset=utf-8')] }) });
  const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'local-req-1' }), lambdaContext());
  expect(result.statusCode).toBe(200);
  expect(bodyOf(result).artifacts).toEqual([
    { name: 'figure-1.png', contentType: 'image/png', size: PNG_BYTES.length, url: `${BASE_URL}/local-req-1/figure-1.png` },
    { name: 'report.txt', contentType: 'text/plain; charset=utf-8', size: 6, url: `${BASE_URL}/local-req-1/report.txt` },
  ]);
  expect(await fs.readFile(path.join(artifactDir, 'local-req-1', storedArtifactFileName('figure-1.png')))).toEqual(PNG_BYTES);
  expect(await fs.readFile(path.join(artifactDir, 'local-req-1', storedArtifactFileName('report.txt')), 'utf8')).toBe('hello\n');
  expect(result.body).not.toContain('contentBase64');
});

it('never writes outside the request folder, and serves only names in the form the executor gives them', async () => {
  const hostile = ['../../escape.txt', '/etc/passwd', '..\\..\\win.txt', '.hidden', '..', 'a/../../b.txt', 'a//b.txt', 'spaces and ünïcode.txt'];
  endpoint.respond = () => ({ body: executorOk({ artifacts: hostile.map((name) => inline(name, Buffer.from(name))) }) });
  const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'local-req-2' }), lambdaContext());
  const names = (bodyOf(result).artifacts as { name: string }[]).map((artifact) => artifact.name);
  expect(names).toEqual(['.hidden', 'spaces and ünïcode.txt']);
  expect((await fs.readdir(path.join(artifactDir, 'local-req-2'))).sort()).toEqual(names.map(storedArtifactFileName).sort());
  expect((await fs.readdir(artifactDir)).sort()).toEqual(['local-req-1', 'local-req-2']);
});

it('keeps sub-folders in the name and the URL, as the cloud does, and drops a second file of the same name', async () => {
  endpoint.respond = () => ({
    body: executorOk({ artifacts: [inline('out.txt', Buffer.from('1')), inline('out.txt', Buffer.from('2')), inline('plots/2024/out.txt', Buffer.from('3'))] }),
  });
  const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'local-req-3' }), lambdaContext());
  const artifacts = bodyOf(result).artifacts as { name: string; url: string }[];
  expect(artifacts.map((artifact) => [artifact.name, artifact.url])).toEqual([
    ['out.txt', `${BASE_URL}/local-req-3/out.txt`],
    ['plots/2024/out.txt', `${BASE_URL}/local-req-3/plots/2024/out.txt`],
  ]);
  expect(await fs.readFile(path.join(artifactDir, 'local-req-3', storedArtifactFileName('out.txt')), 'utf8')).toBe('1');
  expect(await fs.readFile(path.join(artifactDir, 'local-req-3', storedArtifactFileName('plots/2024/out.txt')), 'utf8')).toBe('3');
});

it('does not use a request id that is unsafe as a folder name', async () => {
  endpoint.respond = () => ({ body: executorOk({ artifacts: [inline('a.txt', Buffer.from('a'))] }) });
  const event = executeEvent({ script: 'pass' }, { requestId: '../../etc' });
  const context = { ...lambdaContext(), awsRequestId: '../x' };
  const result = await handler(event, context);
  const body = bodyOf(result);
  expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect((body.artifacts as { url: string }[])[0]!.url).toBe(`${BASE_URL}/${body.requestId as string}/a.txt`);
});

it('answers 500 with a sentence when the artifact folder cannot be written', async () => {
  const blocked = path.join(artifactDir, 'blocked-file');
  await fs.writeFile(blocked, 'not a folder');
  const broken = invokerFor({ LAMBDA_ENDPOINT: endpointUrl, LOCAL_ARTIFACT_DIR: blocked, ARTIFACT_BASE_URL: `${BASE_URL}/` });
  endpoint.respond = () => ({ body: executorOk({ artifacts: [inline('a.txt', Buffer.from('a'))] }) });
  const result = await broken(executeEvent({ script: 'pass' }), lambdaContext());
  expect(result.statusCode).toBe(500);
  expect(bodyOf(result)).toMatchObject({
    errorType: 'InternalError',
    error: 'The execution finished but its artifacts could not be stored; retry, and report the requestId if it happens again.',
  });
});

it('keeps artifacts inline with url null when no artifact store is configured', async () => {
  const inlineHandler = invokerFor({ LAMBDA_ENDPOINT: endpointUrl });
  endpoint.respond = () => ({ body: executorOk({ artifacts: [inline('a.bin', PNG_BYTES, 'image/png')] }) });
  const result = await inlineHandler(executeEvent({ script: 'pass' }), lambdaContext());
  expect(bodyOf(result).artifacts).toEqual([
    { name: 'a.bin', contentType: 'image/png', size: PNG_BYTES.length, url: null, contentBase64: PNG_BYTES.toString('base64') },
  ]);
});
