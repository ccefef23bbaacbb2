import { createHash } from 'node:crypto';
import { readInvokerConfig } from '../../invoker/config';
import { CALLER_HASH_HEX_CHARS, tenantIdFor } from '../../invoker/tenant';
import type { ObservabilityOptions } from '../../invoker/observability';
import type { InvokerHandler } from '../../invoker/invoker';
import { TEST_CALLER_ARN, apiEvent, bodyOf, captureOutput, executeEvent, executorOk, invokerFor, lambdaContext, useLambdaEndpoint } from './support';

/*
 * Tenants (issue 13): the invoker derives the tenant from the caller API
 * Gateway authenticated, extends it with the optional X-Tenant-Id header,
 * and passes it to Lambda as TenantId. The real @aws-sdk/client-lambda talks
 * to a loopback Lambda endpoint that records the X-Amz-Tenant-Id it receives.
 */

const { endpoint, url } = useLambdaEndpoint();
const OTHER_CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/other-platform/session-1';

beforeEach(() => {
  endpoint.invocations.length = 0;
  endpoint.respond = (event) => ({ body: (event as { action?: string }).action === 'health' ? { ok: true, health: {} } : executorOk() });
});

function load(extra: Record<string, string> = {}, observability?: ObservabilityOptions): InvokerHandler {
  return invokerFor({ LAMBDA_ENDPOINT: url(), ...extra }, { observability });
}

/** The X-Amz-Tenant-Id of each invocation the executor received, in order (null: none sent). */
function tenantHeaders(): (string | null)[] {
  return endpoint.invocations.map((invocation) => (invocation.headers['x-amz-tenant-id'] as string | undefined) ?? null);
}

const hashOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, CALLER_HASH_HEX_CHARS);

describe('with tenancy perTenant (the default) and IAM auth (the default)', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load();
  });

  it('defaults to perTenant and iam when TENANCY and AUTH_MODE are unset', () => {
    expect(readInvokerConfig({ EXECUTOR_FUNCTION_NAME: 'f' })).toMatchObject({ tenancy: 'perTenant', authMode: 'iam' });
  });

  it("sends the caller's tenant id as TenantId: a hash of the caller's ARN, the same on every request", async () => {
    await handler(executeEvent({ script: 'pass' }), lambdaContext());
    await handler(executeEvent({ script: 'pass' }), lambdaContext());
    expect(tenantHeaders()).toEqual([hashOf(`iam\n${TEST_CALLER_ARN}`), hashOf(`iam\n${TEST_CALLER_ARN}`)]);
    expect(tenantHeaders()[0]).toMatch(/^[0-9a-f]{24}$/);
  });

  it('gives two callers that send the same X-Tenant-Id different tenants', async () => {
    const headers = { 'X-Tenant-Id': 'customer-42' };
    expect((await handler(executeEvent({ script: 'pass' }, { headers }), lambdaContext())).statusCode).toBe(200);
    expect((await handler(executeEvent({ script: 'pass' }, { headers, userArn: OTHER_CALLER_ARN }), lambdaContext())).statusCode).toBe(200);
    const [first, second] = tenantHeaders();
    expect(first).toBe(`${hashOf(`iam\n${TEST_CALLER_ARN}`)}:customer-42`);
    expect(second).toBe(`${hashOf(`iam\n${OTHER_CALLER_ARN}`)}:customer-42`);
    expect(first).not.toBe(second);
  });

  it("separates one caller's end users by the header, each under the caller's own prefix", async () => {
    for (const endUser of ['alice', 'bob']) {
      await handler(executeEvent({ script: 'pass' }, { headers: { 'x-tenant-id': endUser } }), lambdaContext());
    }
    const prefix = hashOf(`iam\n${TEST_CALLER_ARN}`);
    expect(tenantHeaders()).toEqual([`${prefix}:alice`, `${prefix}:bob`]);
  });

  it("runs the health check in the caller's tenant too", async () => {
    const result = await handler(apiEvent({ method: 'GET', path: '/healthz', body: null, headers: { 'X-Tenant-Id': 'probe' } }), lambdaContext());
    expect(result.statusCode).toBe(200);
    expect(tenantHeaders()).toEqual([`${hashOf(`iam\n${TEST_CALLER_ARN}`)}:probe`]);
  });

  it('answers an invalid X-Tenant-Id with 400 and the contract sentence, and invokes nothing', async () => {
    const result = await handler(executeEvent({ script: 'pass' }, { headers: { 'X-Tenant-Id': 'a/b' } }), lambdaContext());
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result)).toMatchObject({
      ok: false,
      errorType: 'InvalidRequest',
      error: "Header 'X-Tenant-Id' may contain only letters A-Z and a-z, digits, '.', '_' and '-'",
    });
    expect(endpoint.invocations).toHaveLength(0);
  });

  it('refuses a header sent twice (API Gateway would keep only the last value) with 400', async () => {
    const event = executeEvent({ script: 'pass' }, { headers: { 'X-Tenant-Id': 'red' }, multiValueHeaders: { 'X-Tenant-Id': ['blue', 'red'] } });
    const result = await handler(event, lambdaContext());
    expect([result.statusCode, bodyOf(result).error]).toEqual([400, "Header 'X-Tenant-Id' must be sent at most once"]);
    expect(endpoint.invocations).toHaveLength(0);
  });

  it('answers 403 AccessDenied, and invokes nothing, for an event without an authenticated caller', async () => {
    const result = await handler(executeEvent({ script: 'pass' }, { userArn: null }), lambdaContext());
    expect(result.statusCode).toBe(403);
    expect(bodyOf(result)).toMatchObject({
      errorType: 'AccessDenied',
      error:
        'The request carries no authenticated caller (requestContext.identity.userArn), so it cannot be given a tenant; call the API through its authenticated stage',
    });
    expect(endpoint.invocations).toHaveLength(0);
  });

  it("logs the tenant id with every request, and never the caller's ARN", async () => {
    const logged = load({}, { logLevel: 'INFO', serviceName: 'invoker-test' });
    const { lines } = await captureOutput(() => logged(executeEvent({ script: 'pass' }, { headers: { 'X-Tenant-Id': 'team-7' } }), lambdaContext()));
    const refused = await captureOutput(() => logged(executeEvent({ script: '' }, { headers: { 'X-Tenant-Id': 'team-7' } }), lambdaContext()));
    const logs = [...lines, ...refused.lines].map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === 'request');
    const expected = `${hashOf(`iam\n${TEST_CALLER_ARN}`)}:team-7`;
    expect(logs.map((line) => [line.status, line.tenantId])).toEqual([
      [200, expected],
      [400, expected],
    ]);
    expect([...lines, ...refused.lines].join('\n')).not.toContain(TEST_CALLER_ARN);
  });
});

describe('with API-key auth', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load({ AUTH_MODE: 'apiKey' });
  });

  it("derives the tenant from the API key's id, never from the key's value, and gives two keys different tenants", async () => {
    await handler(executeEvent({ script: 'pass' }, { userArn: null, apiKeyId: 'key-one', headers: { 'X-Tenant-Id': 'same' } }), lambdaContext());
    await handler(executeEvent({ script: 'pass' }, { userArn: null, apiKeyId: 'key-two', headers: { 'X-Tenant-Id': 'same' } }), lambdaContext());
    expect(tenantHeaders()).toEqual([`${hashOf('apiKey\nkey-one')}:same`, `${hashOf('apiKey\nkey-two')}:same`]);
    expect(tenantIdFor('apiKey', 'key-one', 'same')).toBe(tenantHeaders()[0]);
    expect(tenantIdFor('iam', 'key-one', 'same')).not.toBe(tenantHeaders()[0]);
  });

  it('answers 403 when the event carries no API key id', async () => {
    const result = await handler(executeEvent({ script: 'pass' }), lambdaContext());
    expect([result.statusCode, bodyOf(result).error]).toEqual([
      403,
      'The request carries no authenticated caller (requestContext.identity.apiKeyId), so it cannot be given a tenant; call the API through its authenticated stage',
    ]);
    expect(endpoint.invocations).toHaveLength(0);
  });
});

describe('with tenancy shared', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load({ TENANCY: 'shared' }, { logLevel: 'INFO' });
  });

  it('sends no tenant id, still refuses an invalid header, and still logs the tenant', async () => {
    const { result, lines } = await captureOutput(() => handler(executeEvent({ script: 'pass' }, { headers: { 'X-Tenant-Id': 'team-7' } }), lambdaContext()));
    expect(result.statusCode).toBe(200);
    expect(tenantHeaders()).toEqual([null]);
    const [line] = lines.map((text) => JSON.parse(text) as Record<string, unknown>).filter((entry) => entry.message === 'request');
    expect(line!.tenantId).toBe(`${hashOf(`iam\n${TEST_CALLER_ARN}`)}:team-7`);

    const refused = await captureOutput(() => handler(executeEvent({ script: 'pass' }, { headers: { 'X-Tenant-Id': '' } }), lambdaContext()));
    expect([refused.result.statusCode, bodyOf(refused.result).errorType]).toEqual([400, 'InvalidRequest']);
    expect(endpoint.invocations).toHaveLength(1);
  });
});

describe('configuration', () => {
  it.each([
    [{ TENANCY: 'per-tenant' }, "TENANCY must be perTenant or shared (the executor's tenant isolation mode), but it is 'per-tenant'."],
    [{ AUTH_MODE: 'cognito' }, "AUTH_MODE must be iam or apiKey (how API Gateway authenticates callers), but it is 'cognito'."],
  ])('refuses %j with a sentence naming the variable', (env, sentence) => {
    expect(() => readInvokerConfig({ EXECUTOR_FUNCTION_NAME: 'f', ...env })).toThrow(sentence);
  });
});
