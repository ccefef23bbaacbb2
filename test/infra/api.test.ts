import * as fs from 'fs';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CORS_ALLOW_HEADERS, ERROR_TYPES, STATUS_BY_ERROR_TYPE } from '../../contract';
import { limitsToEnvironment, resolveConfig } from '../../lib/config';
import { REQUEST_ID_VARIABLE } from '../../lib/gateway-responses';
import { invokerTimeouts, LAMBDA_MAX_TIMEOUT_SECONDS } from '../../lib/invoker-api';
import { logicalIdOf, resourcesOfType, synthesize, SynthesizedStack } from './helpers';

type Resource = { Properties: Record<string, any>; Metadata?: Record<string, any> };

function methods(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::ApiGateway::Method')) as Resource[];
}

/** The methods on the resource with this path part, e.g. 'mcp'. */
function methodsOn(template: Template, pathPart: string): Resource[] {
  const resources = template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: pathPart } });
  return methods(template).filter((method) => Object.keys(resources).includes(method.Properties.ResourceId?.Ref as string));
}

function invokerOf(template: Template): [string, Resource] {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', 'InvokerFunction');
  return [id, template.findResources('AWS::Lambda::Function')[id] as Resource];
}

describe('InvokerApi in iam mode (the default)', () => {
  let synthesized: SynthesizedStack;
  let template: Template;
  let apiId: string;
  let invokerId: string;
  let invoker: Resource;

  beforeAll(() => {
    synthesized = synthesize();
    template = synthesized.template;
    apiId = logicalIdOf(template, 'AWS::ApiGateway::RestApi', 'InvokerApi');
    [invokerId, invoker] = invokerOf(template);
  });

  it('serves POST /execute, GET /healthz and POST /mcp, and sends every other method and path to the invoker too, all as Lambda proxy integrations', () => {
    const found = methods(template).map((method) => {
      const resourceId = method.Properties.ResourceId.Ref as string | undefined;
      const path = resourceId === undefined ? '' : (template.findResources('AWS::ApiGateway::Resource')[resourceId] as Resource).Properties.PathPart;
      return `${method.Properties.HttpMethod} /${path}`;
    });
    // The catch-alls make the invoker answer an unknown route 404 and a wrong
    // method 405 in the contract's JSON, instead of API Gateway's "Missing Authentication Token".
    expect(found.sort()).toEqual(['ANY /', 'ANY /execute', 'ANY /healthz', 'ANY /mcp', 'ANY /{proxy+}', 'GET /healthz', 'POST /execute', 'POST /mcp']);
    for (const method of methods(template)) {
      expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(method.Properties.Integration.Uri)).toContain(`"${invokerId}","Arn"`);
    }
  });

  it('serves the MCP endpoint through the invoker with SigV4, like /execute', () => {
    const mcpMethods = methodsOn(template, 'mcp');
    expect(mcpMethods.map((method) => method.Properties.HttpMethod).sort()).toEqual(['ANY', 'POST']);
    for (const method of mcpMethods) {
      expect(method.Properties).toMatchObject({ AuthorizationType: 'AWS_IAM', Integration: { Type: 'AWS_PROXY' } });
      expect(JSON.stringify(method.Properties.Integration.Uri)).toContain(`"${invokerId}","Arn"`);
    }
  });

  it('waits for the invoker as long as the integration timeout setting says (29 s by default)', () => {
    for (const method of methods(template)) {
      expect(method.Properties.Integration.TimeoutInMillis).toBe(29_000);
    }
  });

  it('requires SigV4 (AWS_IAM) on every method', () => {
    expect(methods(template)).toHaveLength(8);
    for (const method of methods(template)) {
      expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
    }
    template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
  });

  it('throttles the stage at 20 requests per second with a burst of 40', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: [Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })],
    });
  });

  it('writes JSON access logs to a log group with retention', () => {
    const accessLogGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'InvokerAccessLogGroup');
    const [, stage] = resourcesOfType(template, 'AWS::ApiGateway::Stage')[0];
    const setting = stage.Properties?.AccessLogSetting as { DestinationArn: unknown; Format: string };
    expect(setting.DestinationArn).toEqual({ 'Fn::GetAtt': [accessLogGroupId, 'Arn'] });
    const fields = JSON.parse(setting.Format) as Record<string, string>;
    expect(fields).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      caller: '$context.identity.caller',
      httpMethod: '$context.httpMethod',
      resourcePath: '$context.resourcePath',
      status: '$context.status',
      responseLatencyMs: '$context.responseLatency',
    });
    expect(template.findResources('AWS::Logs::LogGroup')[accessLogGroupId].Properties.RetentionInDays).toBe(30);
  });

  it('runs the invoker on Node.js 22 with source maps, its own log group and a timeout above the executor client timeout', () => {
    const logGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'InvokerFunctionLogGroup');
    expect(invoker.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      LoggingConfig: { LogGroup: { Ref: logGroupId } },
      Timeout: 33,
    });
    expect(invoker.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    // The invoker answers ExecutorTimeout itself one second before API Gateway would give up.
    expect(Number(invoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBe(28_000);
    expect(Number(invoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBeLessThan(invoker.Properties.Timeout * 1000);
  });

  it('gives the invoker the executor name, bucket, limits, CORS setting, auth mode, tenancy, seal key and Powertools names as environment variables', () => {
    const executorId = logicalIdOf(template, 'AWS::Lambda::Function', 'ExecutorFunction');
    const bucketId = logicalIdOf(template, 'AWS::S3::Bucket', 'ArtifactsBucket');
    expect(invoker.Properties.Environment.Variables).toEqual({
      ...limitsToEnvironment(synthesized.config.limits),
      // A dynamic reference to the seal key secret (test/infra/seal-key.test.ts).
      EXECUTOR_SEAL_KEY: expect.objectContaining({ 'Fn::Join': expect.any(Array) }),
      EXECUTOR_FUNCTION_NAME: { Ref: executorId },
      EXECUTOR_CLIENT_TIMEOUT_MS: '28000',
      ARTIFACT_BUCKET: { Ref: bucketId },
      CORS_ALLOW_ORIGIN: '',
      AUTH_MODE: 'iam',
      TENANCY: 'perTenant',
      POWERTOOLS_SERVICE_NAME: 'secure-python-executor-invoker',
      POWERTOOLS_METRICS_NAMESPACE: 'SecurePythonExecutor',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  it('bundles the handler with the AWS SDK inside (not taken from the runtime) and a source map', () => {
    // The zip's key is the asset hash, and the staged bundle sits in asset.<hash>.
    const assetHash = String(invoker.Properties.Code.S3Key).replace(/\.zip$/, '');
    const bundleDir = path.join(synthesized.outdir, `asset.${assetHash}`);
    const bundle = fs.readFileSync(path.join(bundleDir, 'index.js'), 'utf8');
    expect(fs.existsSync(path.join(bundleDir, 'index.js.map'))).toBe(true);
    expect(bundle).toMatch(/sourceMappingURL=index\.js\.map/);
    // An external SDK would remain as require() calls resolved at run time.
    // (Only the SDK's optional CRT/SigV4a add-ons stay external, inside try/catch.)
    for (const sdkPackage of ['client-lambda', 'client-s3', 's3-presigned-post', 's3-request-presigner', 'core']) {
      expect(bundle).not.toContain(`require("@aws-sdk/${sdkPackage}")`);
    }
    expect(bundle).not.toMatch(/require\(["']@smithy\//);
    expect(bundle).toContain('InvokeCommand');
  });

  it('lets the invoker role only invoke the executor, sign for executions/* in the bucket and write its own logs', () => {
    const roleId = logicalIdOf(template, 'AWS::IAM::Role', 'InvokerFunctionRole');
    const executorId = logicalIdOf(template, 'AWS::Lambda::Function', 'ExecutorFunction');
    const bucketId = logicalIdOf(template, 'AWS::S3::Bucket', 'ArtifactsBucket');
    const logGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'InvokerFunctionLogGroup');
    const role = template.findResources('AWS::IAM::Role')[roleId] as Resource;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toHaveLength(1);
    expect(role.Properties.Policies[0].PolicyDocument.Statement).toEqual([
      { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
      { Sid: 'InvokeExecutor', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [executorId, 'Arn'] } },
      {
        Sid: 'SignArtifactUrls',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/executions/*']] },
      },
    ]);
    for (const [, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      expect(policy.Properties?.Roles).not.toContainEqual({ Ref: roleId });
    }
    expect(invoker.Properties.Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
  });

  it('lets only this API (its methods on its stages) invoke the invoker', () => {
    const permissions = resourcesOfType(template, 'AWS::Lambda::Permission');
    expect(permissions.length).toBeGreaterThan(0);
    for (const [, permission] of permissions) {
      expect(permission.Properties).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com', FunctionName: { 'Fn::GetAtt': [invokerId, 'Arn'] } });
      expect(JSON.stringify(permission.Properties?.SourceArn)).toContain(`{"Ref":"${apiId}"}`);
    }
  });

  it("answers every refusal of API Gateway's own (defaults, authentication, throttling, size, timeout) with the contract's JSON and errorType", () => {
    const responses = new Map(
      resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').map(([, response]) => [response.Properties?.ResponseType as string, response.Properties!]),
    );
    const expected: [string, number | undefined, string][] = [
      ['DEFAULT_4XX', undefined, 'InvalidRequest'],
      ['DEFAULT_5XX', undefined, 'InternalError'],
      ['MISSING_AUTHENTICATION_TOKEN', 403, 'AccessDenied'],
      ['INVALID_SIGNATURE', 403, 'AccessDenied'],
      ['EXPIRED_TOKEN', 403, 'AccessDenied'],
      ['ACCESS_DENIED', 403, 'AccessDenied'],
      ['INVALID_API_KEY', 403, 'AccessDenied'],
      ['RESOURCE_NOT_FOUND', 404, 'NotFound'],
      ['THROTTLED', 429, 'Throttled'],
      ['QUOTA_EXCEEDED', 429, 'Throttled'],
      ['WAF_FILTERED', 429, 'Throttled'],
      ['REQUEST_TOO_LARGE', 413, 'RequestTooLarge'],
      ['UNSUPPORTED_MEDIA_TYPE', 415, 'UnsupportedMediaType'],
      ['INTEGRATION_TIMEOUT', 504, 'ExecutorTimeout'],
    ];
    expect([...responses.keys()].sort()).toEqual(expected.map(([type]) => type).sort());
    for (const [type, statusCode, errorType] of expected) {
      const response = responses.get(type)!;
      // DEFAULT_4XX/5XX keep the status of the response they stand in for.
      expect({ type, status: response.StatusCode }).toEqual({ type, status: statusCode === undefined ? undefined : String(statusCode) });
      if (statusCode !== undefined) expect(STATUS_BY_ERROR_TYPE[errorType as keyof typeof STATUS_BY_ERROR_TYPE]).toBe(statusCode);
      expect(response.ResponseParameters).toMatchObject({ 'gatewayresponse.header.Content-Type': "'application/json'" });

      // Templates get simple variable substitution only: the request id is the one variable.
      const body = (response.ResponseTemplates as Record<string, string>)['application/json'];
      expect(body.split('$').length - 1).toBe(1);
      const rendered = JSON.parse(body.replace(REQUEST_ID_VARIABLE, 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef')) as Record<string, unknown>;
      expect(rendered).toEqual({
        ok: false,
        result: null,
        stdout: '',
        stderr: '',
        truncated: { stdout: false, stderr: false, artifacts: false },
        error: expect.stringMatching(/^[A-Z].{20,}[.)a-z0-9]$/),
        errorType,
        traceback: null,
        artifacts: [],
        durationMs: 0,
        requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      });
      expect(ERROR_TYPES).toContain(errorType);
      expect(rendered.error).not.toMatch(/Missing Authentication Token/);
    }
    const errorOf = (type: string): string => JSON.parse((responses.get(type)!.ResponseTemplates as Record<string, string>)['application/json']).error;
    expect(errorOf('REQUEST_TOO_LARGE')).toBe('Request body must be at most 1000000 bytes');
    expect(errorOf('INTEGRATION_TIMEOUT')).toContain("within the API's 29000 ms limit");
  });

  it('keeps the invoker timeout within Lambda\'s 900 s for every allowed setting, and lets the invoker answer before its own timeout', () => {
    for (const timeoutSeconds of [3, 30, 298, 893, 894, 895, 899, 900]) {
      for (const apiIntegrationTimeoutMs of [3_001, 29_000, 29_001, 299_999, 300_000]) {
        const { clientTimeoutMs, functionTimeoutSeconds } = invokerTimeouts({ timeoutSeconds, apiIntegrationTimeoutMs });
        expect({ timeoutSeconds, apiIntegrationTimeoutMs, within: functionTimeoutSeconds <= LAMBDA_MAX_TIMEOUT_SECONDS }).toMatchObject({ within: true });
        expect(clientTimeoutMs).toBeLessThanOrEqual(functionTimeoutSeconds * 1000 - 5000);
        expect(clientTimeoutMs).toBeLessThan(apiIntegrationTimeoutMs);
      }
    }
    // At the edge: the executor at Lambda's maximum and the largest integration timeout.
    const edge = resolveConfig({ timeoutSeconds: 900, maxRequestTimeoutMs: 297_000, apiIntegrationTimeoutMs: 300_000 });
    const { template: edgeTemplate } = synthesize({ timeoutSeconds: 900, maxRequestTimeoutMs: 297_000, apiIntegrationTimeoutMs: 300_000 });
    const [, edgeInvoker] = invokerOf(edgeTemplate);
    expect(edgeInvoker.Properties.Timeout).toBe(304);
    expect(Number(edgeInvoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBe(299_000);
    expect(Number(edgeInvoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBeGreaterThan(edge.limits.maxTimeoutMs);
    expect(invokerTimeouts({ timeoutSeconds: 900, apiIntegrationTimeoutMs: 1_000_000 })).toEqual({ clientTimeoutMs: 895_000, functionTimeoutSeconds: 900 });
  });

  it("sets API Gateway's account-level CloudWatch Logs role, kept when the stack is deleted, before the stage that logs through it", () => {
    const [[accountId, account]] = Object.entries(template.findResources('AWS::ApiGateway::Account'));
    const roleId = logicalIdOf(template, 'AWS::IAM::Role', 'ApiGatewayAccountCloudWatchRole');
    const role = template.findResources('AWS::IAM::Role')[roleId];
    expect(account.Properties.CloudWatchRoleArn).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(account.DeletionPolicy).toBe('Retain');
    expect(role.DeletionPolicy).toBe('Retain');
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' } },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const [statement] = role.Properties.Policies[0].PolicyDocument.Statement;
    expect(statement.Action.every((action: string) => action.startsWith('logs:'))).toBe(true);
    expect(JSON.stringify(statement.Resource)).toContain(':log-group:*');
    const [, stage] = Object.entries(template.findResources('AWS::ApiGateway::Stage'))[0];
    expect(stage.DependsOn).toContain(accountId);
  });

  it('creates no account-level API Gateway setting when apiGatewayCloudWatchRole is false', () => {
    const { template: without } = synthesize({ apiGatewayCloudWatchRole: false });
    without.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(Object.keys(without.findResources('AWS::IAM::Role')).filter((id) => id.includes('CloudWatchRole'))).toEqual([]);
  });

  it('sends no CORS headers and has no OPTIONS methods unless corsAllowOrigin is set', () => {
    expect(methods(template).filter((method) => method.Properties.HttpMethod === 'OPTIONS')).toEqual([]);
    for (const [, response] of resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse')) {
      expect(response.Properties?.ResponseParameters).not.toHaveProperty(['gatewayresponse.header.Access-Control-Allow-Origin']);
    }
  });

  it('has no WAF web ACL unless enableWaf is set', () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });

  it('outputs the API URL once, ending in the stage v1, and no API key id', () => {
    const outputs = template.findOutputs('*');
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain(`{"Ref":"${apiId}"}`);
    const stageId = logicalIdOf(template, 'AWS::ApiGateway::Stage', 'InvokerApiDeploymentStage');
    expect(template.findResources('AWS::ApiGateway::Stage')[stageId].Properties.StageName).toBe('v1');
    expect(outputs.ApiUrl.Value['Fn::Join'][1].slice(-3)).toEqual(['/', { Ref: stageId }, '/']);
    expect(Object.values(outputs).filter((output) => JSON.stringify(output.Value).includes('.execute-api.'))).toHaveLength(1);
    expect(outputs.ApiKeyId).toBeUndefined();
  });
});

describe('InvokerApi in apiKey mode with WAF and CORS', () => {
  let template: Template;
  let stageId: string;

  beforeAll(() => {
    ({ template } = synthesize({
      authMode: 'apiKey',
      enableWaf: true,
      wafRequestsPer5MinutesPerIp: 500,
      corsAllowOrigin: 'https://app.example.com',
      apiRateLimitRps: 5,
      apiBurstLimitRequests: 10,
      apiKeyDailyQuotaRequests: 2000,
    }));
    stageId = logicalIdOf(template, 'AWS::ApiGateway::Stage', 'InvokerApiDeploymentStage');
  });

  it('requires an API key on every method except the CORS preflight mocks', () => {
    const nonPreflight = methods(template).filter((method) => method.Properties.HttpMethod !== 'OPTIONS');
    expect(nonPreflight).toHaveLength(8);
    for (const method of nonPreflight) {
      expect(method.Properties.ApiKeyRequired).toBe(true);
    }
  });

  it('requires the API key on the MCP endpoint as on /execute', () => {
    const mcpMethods = methodsOn(template, 'mcp').filter((method) => method.Properties.HttpMethod !== 'OPTIONS');
    expect(mcpMethods.map((method) => method.Properties.HttpMethod).sort()).toEqual(['ANY', 'POST']);
    for (const method of mcpMethods) {
      expect(method.Properties).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: true, Integration: { Type: 'AWS_PROXY' } });
    }
  });

  it('never exposes a method that reaches the invoker without authentication', () => {
    for (const method of methods(template)) {
      const authenticated = method.Properties.AuthorizationType === 'AWS_IAM' || method.Properties.ApiKeyRequired === true;
      if (!authenticated) {
        expect(method.Properties.HttpMethod).toBe('OPTIONS');
        expect(method.Properties.Integration.Type).toBe('MOCK');
      }
    }
  });

  it('creates the API key and binds it to a usage plan with rate, burst and daily quota on the stage', () => {
    template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    template.hasResourceProperties('AWS::ApiGateway::ApiKey', { Enabled: true });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 5, BurstLimit: 10 },
      Quota: { Limit: 2000, Period: 'DAY' },
      ApiStages: [Match.objectLike({ Stage: { Ref: stageId } })],
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: { Ref: logicalIdOf(template, 'AWS::ApiGateway::ApiKey', 'InvokerApiKey') },
      KeyType: 'API_KEY',
      UsagePlanId: { Ref: logicalIdOf(template, 'AWS::ApiGateway::UsagePlan', 'InvokerUsagePlan') },
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })],
    });
    expect(template.findOutputs('ApiKeyId').ApiKeyId.Value).toEqual({ Ref: logicalIdOf(template, 'AWS::ApiGateway::ApiKey', 'InvokerApiKey') });
  });

  it('puts a WAF web ACL with a per-IP rate-based blocking rule on the stage', () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Action: { Block: {} },
          Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 500, EvaluationWindowSec: 300 } },
        }),
      ],
    });
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::WAFv2::WebACL', 'InvokerWebAcl'), 'Arn'] },
      ResourceArn: { 'Fn::Join': ['', Match.arrayWith([{ Ref: stageId }])] },
    });
  });

  it('answers CORS preflights for the configured origin only and tells the invoker the origin', () => {
    const preflights = methods(template).filter((method) => method.Properties.HttpMethod === 'OPTIONS');
    expect(preflights).toHaveLength(3);
    for (const preflight of preflights) {
      expect(preflight.Properties.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBe(
        "'https://app.example.com'",
      );
    }
    const [, invoker] = invokerOf(template);
    expect(invoker.Properties.Environment.Variables.CORS_ALLOW_ORIGIN).toBe('https://app.example.com');
  });

  it('lets browser MCP clients preflight POST /mcp with the Mcp-Protocol-Version header', () => {
    const [preflight] = methodsOn(template, 'mcp').filter((method) => method.Properties.HttpMethod === 'OPTIONS');
    const parameters = preflight!.Properties.Integration.IntegrationResponses[0].ResponseParameters as Record<string, string>;
    expect(parameters['method.response.header.Access-Control-Allow-Methods']).toBe("'POST'");
    expect(parameters['method.response.header.Access-Control-Allow-Headers']).toContain('Mcp-Protocol-Version');
  });

  it('lets browsers send the X-Tenant-Id header cross-origin, like the invoker says it does', () => {
    for (const preflight of methods(template).filter((method) => method.Properties.HttpMethod === 'OPTIONS')) {
      const allowed = preflight.Properties.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Headers'];
      expect(allowed).toBe(`'${CORS_ALLOW_HEADERS.join(',')}'`);
      expect(allowed).toContain('X-Tenant-Id');
    }
  });

  it('tells the invoker to find the caller in the API key id', () => {
    const [, invoker] = invokerOf(template);
    expect(invoker.Properties.Environment.Variables.AUTH_MODE).toBe('apiKey');
  });
});
