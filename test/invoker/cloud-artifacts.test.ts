import { createHmac } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { InvokerHandler } from '../../invoker/invoker';
import { LambdaEndpoint } from './lambda-endpoint';
import { bodyOf, executeEvent, executorOk, invokerFor, lambdaContext } from './support';

/*
 * Cloud mode (ARTIFACT_BUCKET set): the invoker signs an S3 presigned POST
 * for the execution's prefix and turns returned keys into presigned GET URLs.
 * Signing is offline, with static credentials given to the S3 client; the
 * executor is the local Invoke API endpoint, so nothing is sent to AWS.
 */

const BUCKET = 'spe-artifacts-123456789012-eu-west-1';
const REGION = 'eu-west-1';
const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION_TOKEN = 'test-session-token';

const endpoint = new LambdaEndpoint();
const s3 = new S3Client({
  region: REGION,
  credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY, sessionToken: SESSION_TOKEN },
});
/** The invoker's variables; a test changes one of them. */
let env: Record<string, string>;
let handler: InvokerHandler;

interface ForwardedEvent {
  requestId: string;
  script: string;
  artifactUpload: { url: string; fields: Record<string, string>; keyPrefix: string };
}

beforeAll(async () => {
  env = { LAMBDA_ENDPOINT: await endpoint.start(), ARTIFACT_BUCKET: BUCKET, EXECUTOR_MAX_ARTIFACT_BYTES: '1048576' };
  handler = invokerFor(env, { s3 });
});

afterAll(() => endpoint.stop());

beforeEach(() => {
  endpoint.invocations.length = 0;
});

function lastEvent(): ForwardedEvent {
  return JSON.parse(endpoint.invocations.at(-1)!.payload) as ForwardedEvent;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

describe('presigned POST for artifact uploads', () => {
  it('passes one policy for executions/<requestId>/ in the executor event', async () => {
    endpoint.respond = () => ({ body: executorOk() });
    await handler(executeEvent({ script: 'pass', timeoutMs: 2500 }, { requestId: 'c0ffee00-1111-4222-8333-444455556666' }), lambdaContext());
    const event = lastEvent();
    expect(event.requestId).toBe('c0ffee00-1111-4222-8333-444455556666');
    expect(event.script).toBe('pass');
    const upload = event.artifactUpload;
    expect(upload.keyPrefix).toBe('executions/c0ffee00-1111-4222-8333-444455556666/');
    expect(upload.url).toBe(`https://${BUCKET}.s3.${REGION}.amazonaws.com/`);
    expect(upload.fields).toMatchObject({
      bucket: BUCKET,
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Security-Token': SESSION_TOKEN,
    });
    expect(upload.fields['X-Amz-Credential']).toMatch(new RegExp(`^${ACCESS_KEY_ID}/\\d{8}/${REGION}/s3/aws4_request$`));
    // The executor adds key = keyPrefix + name itself.
    expect(upload.fields).not.toHaveProperty('key');
  });

  it('signs a policy limited to the prefix, the size range and a short expiry', async () => {
    endpoint.respond = () => ({ body: executorOk() });
    await handler(executeEvent({ script: 'pass', timeoutMs: 2500 }, { requestId: 'req-policy' }), lambdaContext());
    const { fields } = lastEvent().artifactUpload;
    const policy = JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };

    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['content-length-range', 0, 1_048_576],
        ['starts-with', '$key', 'executions/req-policy/'],
        ['starts-with', '$Content-Type', ''],
        { bucket: BUCKET },
        { 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256' },
        { 'X-Amz-Credential': fields['X-Amz-Credential'] },
        { 'X-Amz-Date': fields['X-Amz-Date'] },
        { 'X-Amz-Security-Token': SESSION_TOKEN },
      ]),
    );
    expect(policy.conditions).toHaveLength(8);

    // Expiry = the request's timeout rounded up to seconds + 60 s upload margin, from the signing time.
    const amzDate = fields['X-Amz-Date']!;
    const signedAtMs = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    expect(Date.parse(policy.expiration) - signedAtMs).toBe((3 + 60) * 1000);
  });

  it('produces a signature that verifies with the credentials (SigV4 over the policy)', async () => {
    endpoint.respond = () => ({ body: executorOk() });
    await handler(executeEvent({ script: 'pass' }), lambdaContext());
    const { fields } = lastEvent().artifactUpload;
    const date = fields['X-Amz-Date']!.slice(0, 8);
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${SECRET_ACCESS_KEY}`, date), REGION), 's3'), 'aws4_request');
    expect(fields['X-Amz-Signature']).toBe(hmac(signingKey, fields.Policy!).toString('hex'));
  });

  it('uses the default timeout for the expiry when the request has none', async () => {
    endpoint.respond = () => ({ body: executorOk() });
    await handler(executeEvent({ script: 'pass' }), lambdaContext());
    const { fields } = lastEvent().artifactUpload;
    const policy = JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8')) as { expiration: string };
    const amzDate = fields['X-Amz-Date']!;
    const signedAtMs = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    expect(Date.parse(policy.expiration) - signedAtMs).toBe((10 + 60) * 1000);
  });
});

describe('presigned GET URLs for returned artifacts', () => {
  it('replaces each key with a short-lived GET URL for that object', async () => {
    endpoint.respond = (event) => {
      const prefix = (event as ForwardedEvent).artifactUpload.keyPrefix;
      return {
        body: executorOk({
          artifacts: [
            { name: 'chart.png', contentType: 'image/png', size: 2048, key: `${prefix}chart.png` },
            { name: 'data.csv', contentType: 'text/csv', size: 10, key: `${prefix}data.csv` },
          ],
        }),
      };
    };
    const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'req-get' }), lambdaContext());
    expect(result.statusCode).toBe(200);
    const artifacts = bodyOf(result).artifacts as { name: string; contentType: string; size: number; url: string }[];
    expect(artifacts.map(({ name, contentType, size }) => ({ name, contentType, size }))).toEqual([
      { name: 'chart.png', contentType: 'image/png', size: 2048 },
      { name: 'data.csv', contentType: 'text/csv', size: 10 },
    ]);
    const url = new URL(artifacts[0]!.url);
    expect(url.origin).toBe(`https://${BUCKET}.s3.${REGION}.amazonaws.com`);
    expect(url.pathname).toBe('/executions/req-get/chart.png');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${ACCESS_KEY_ID}/\\d{8}/${REGION}/s3/aws4_request$`));
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(artifacts)).not.toContain('"key"');
  });

  it('never signs a key outside this execution’s prefix', async () => {
    endpoint.respond = () => ({
      body: executorOk({
        artifacts: [
          { name: 'other.png', contentType: 'image/png', size: 1, key: 'executions/someone-else/other.png' },
          { name: 'escape.png', contentType: 'image/png', size: 1, key: 'executions/req-prefix/../other/escape.png' },
          { name: 'nested.png', contentType: 'image/png', size: 1, key: 'executions/req-prefix/a/b.png' },
          { name: '../up.png', contentType: 'image/png', size: 1, key: 'executions/req-prefix/../up.png' },
          { name: 'mine.png', contentType: 'image/png', size: 1, key: 'executions/req-prefix/mine.png' },
        ],
      }),
    });
    const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'req-prefix' }), lambdaContext());
    const artifacts = bodyOf(result).artifacts as { name: string }[];
    expect(artifacts.map((artifact) => artifact.name)).toEqual(['mine.png']);
  });

  it('signs a file from a sub-folder of outputs/ under its path, with the name the local server gives it too', async () => {
    endpoint.respond = (event) => {
      const prefix = (event as ForwardedEvent).artifactUpload.keyPrefix;
      return { body: executorOk({ artifacts: [{ name: 'plots/2024/a.csv', contentType: 'text/csv', size: 1, key: `${prefix}plots/2024/a.csv` }] }) };
    };
    const result = await handler(executeEvent({ script: 'pass' }, { requestId: 'req-sub' }), lambdaContext());
    const artifacts = bodyOf(result).artifacts as { name: string; url: string }[];
    expect(artifacts.map((artifact) => artifact.name)).toEqual(['plots/2024/a.csv']);
    expect(new URL(artifacts[0]!.url).pathname).toBe('/executions/req-sub/plots/2024/a.csv');
  });

  it('honours ARTIFACT_URL_EXPIRY_SECONDS', async () => {
    const shortLived = invokerFor({ ...env, ARTIFACT_URL_EXPIRY_SECONDS: '120' }, { s3 });
    endpoint.respond = (event) => ({
      body: executorOk({ artifacts: [{ name: 'a.txt', contentType: 'text/plain', size: 1, key: `${(event as ForwardedEvent).artifactUpload.keyPrefix}a.txt` }] }),
    });
    const result = await shortLived(executeEvent({ script: 'pass' }), lambdaContext());
    const [artifact] = bodyOf(result).artifacts as { url: string }[];
    expect(new URL(artifact!.url).searchParams.get('X-Amz-Expires')).toBe('120');
  });
});

it('refuses to build an invoker that sends artifacts to S3 without an S3 client', () => {
  expect(() => invokerFor(env)).toThrow('createInvoker needs an S3 client when artifacts go to S3 (ARTIFACT_BUCKET).');
});

describe('without credentials to sign with', () => {
  it('answers 500 with a sentence and does not invoke the executor', async () => {
    // As the SDK's default chain ends when no source has credentials.
    const noCredentials = (): Promise<never> => Promise.reject(new Error('Could not load credentials from any providers'));
    const unsigned = invokerFor(env, { s3: new S3Client({ region: REGION, credentials: noCredentials }) });
    const result = await unsigned(executeEvent({ script: 'pass' }), lambdaContext());
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result)).toMatchObject({
      errorType: 'InternalError',
      error: 'The service failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.',
    });
    expect(endpoint.invocations).toHaveLength(0);
  });
});
