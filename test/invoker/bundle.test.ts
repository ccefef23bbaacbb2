import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { LambdaEndpoint } from './lambda-endpoint';
import { apiEvent, executorOk } from './support';

/*
 * The handler as Lambda runs it: bundled by esbuild the way NodejsFunction
 * does (one CommonJS file, node22 target, AWS SDK inside, nothing external),
 * loaded by a plain Node process outside jest, and called with an API Gateway
 * event against the Invoke API endpoint.
 */

const run = promisify(execFile);
const endpoint = new LambdaEndpoint();
let workDir: string;
let bundlePath: string;
let endpointUrl: string;

beforeAll(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'invoker-bundle-'));
  bundlePath = path.join(workDir, 'index.js');
  await build({
    entryPoints: [path.join(__dirname, '..', '..', 'invoker', 'handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    outfile: bundlePath,
    logLevel: 'silent',
  });
  endpointUrl = await endpoint.start();
});

afterAll(async () => {
  await endpoint.stop();
  await fs.rm(workDir, { recursive: true, force: true });
});

async function callBundle(event: unknown, env: Record<string, string>): Promise<{ statusCode: number; body: string }> {
  const script = `require(${JSON.stringify(bundlePath)}).handler(JSON.parse(process.env.TEST_EVENT), { awsRequestId: 'ctx-1', functionName: 'invoker' })
    .then((result) => process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n'))`;
  const { stdout } = await run(process.execPath, ['-e', script], {
    env: {
      PATH: process.env.PATH ?? '',
      TEST_EVENT: JSON.stringify(event),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...env,
    },
  });
  const line = stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  return JSON.parse(line!.slice('RESULT '.length)) as { statusCode: number; body: string };
}

it('bundles into one file that contains the AWS SDK and the Powertools', async () => {
  const stat = await fs.stat(bundlePath);
  const source = await fs.readFile(bundlePath, 'utf8');
  expect(stat.size).toBeGreaterThan(100_000);
  // A require inside a string is not one: ajv (in the MCP SDK) keeps `require("ajv/dist/runtime/...")` as text for its standalone code generation.
  const external = [...new Set([...source.matchAll(/(?<![`'"])require\("([^"]+)"\)/g)].map((match) => match[1]!))].filter((name) => !name.startsWith('node:'));
  // The CRT signer is an optional require inside a try (SigV4a only); nothing else may be left outside the bundle.
  expect(external).toEqual(['@aws-sdk/signature-v4-crt']);
});

it('answers an execution through the Invoke API when loaded by plain Node', async () => {
  endpoint.respond = () => ({ body: executorOk({ result: 42 }) });
  const result = await callBundle(apiEvent({ body: '{"script": "def main(): return 42"}', requestId: 'bundle-req' }), {
    LAMBDA_ENDPOINT: endpointUrl,
    EXECUTOR_FUNCTION_NAME: 'workflow-python-executor',
  });
  expect(result.statusCode).toBe(200);
  expect(JSON.parse(result.body)).toMatchObject({ ok: true, result: 42, requestId: 'bundle-req' });
});

it('answers every API request with 500 naming the variable when its configuration is refused, instead of failing its init', async () => {
  endpoint.invocations.length = 0;
  const result = await callBundle(apiEvent({ body: '{"script": "pass"}', requestId: 'bundle-misconfigured' }), { LAMBDA_ENDPOINT: endpointUrl });
  expect(result.statusCode).toBe(500);
  expect(JSON.parse(result.body)).toMatchObject({
    ok: false,
    errorType: 'InternalError',
    error: 'The invoker is misconfigured: EXECUTOR_FUNCTION_NAME must be set to the name or ARN of the executor function.',
  });
  expect(endpoint.invocations).toHaveLength(0);
});

it('serves the MCP endpoint from the bundle, outside the repository\'s node_modules', async () => {
  endpoint.respond = () => ({ body: executorOk({ result: 42 }) });
  const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run_python', arguments: { script: 'def main(): return 42' } } };
  const result = await callBundle(
    apiEvent({ path: '/mcp', body: JSON.stringify(call), requestId: 'bundle-mcp', headers: { Accept: 'application/json, text/event-stream' } }),
    { LAMBDA_ENDPOINT: endpointUrl, EXECUTOR_FUNCTION_NAME: 'workflow-python-executor' },
  );
  expect(result.statusCode).toBe(200);
  expect(JSON.parse(result.body)).toMatchObject({ jsonrpc: '2.0', id: 7, result: { isError: false, content: [{ type: 'text', text: 'result:\n42' }] } });
});

it('signs artifact uploads from the bundle, offline', async () => {
  endpoint.respond = () => ({ body: executorOk() });
  endpoint.invocations.length = 0;
  const result = await callBundle(apiEvent({ body: '{"script": "pass"}', requestId: 'bundle-s3' }), {
    LAMBDA_ENDPOINT: endpointUrl,
    EXECUTOR_FUNCTION_NAME: 'workflow-python-executor',
    ARTIFACT_BUCKET: 'bundle-bucket',
    AWS_REGION: 'us-west-2',
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  expect(result.statusCode).toBe(200);
  const forwarded = JSON.parse(endpoint.invocations[0]!.payload) as { artifactUpload: { url: string; keyPrefix: string } };
  expect(forwarded.artifactUpload).toMatchObject({ url: 'https://bundle-bucket.s3.us-west-2.amazonaws.com/', keyPrefix: 'executions/bundle-s3/' });
});
