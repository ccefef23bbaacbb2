import * as fs from 'fs';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { limitsToEnvironment } from '../../lib/config';
import { logicalIdOf, resourcesOfType, synthesize, SynthesizedStack } from './helpers';

type Resource = { Properties: Record<string, any>; Metadata?: Record<string, any> };

function methods(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::ApiGateway::Method')) as Resource[];
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

  it('exposes exactly POST /execute and GET /healthz, both as Lambda proxy integrations of the invoker', () => {
    const found = methods(template).map((method) => {
      const resource = template.findResources('AWS::ApiGateway::Resource')[method.Properties.ResourceId.Ref] as Resource;
      return `${method.Properties.HttpMethod} /${resource.Properties.PathPart}`;
    });
    expect(found.sort()).toEqual(['GET /healthz', 'POST /execute']);
    for (const method of methods(template)) {
      expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(method.Properties.Integration.Uri)).toContain(`"${invokerId}","Arn"`);
    }
  });

  it('requires SigV4 (AWS_IAM) on every method', () => {
    expect(methods(template)).toHaveLength(2);
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
      Timeout: 37,
    });
    expect(invoker.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    expect(Number(invoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBe(32_000);
    expect(Number(invoker.Properties.Environment.Variables.EXECUTOR_CLIENT_TIMEOUT_MS)).toBeLessThan(invoker.Properties.Timeout * 1000);
  });

  it('gives the invoker the executor name, bucket, limits, CORS setting and Powertools names as environment variables', () => {
    const executorId = logicalIdOf(template, 'AWS::Lambda::Function', 'ExecutorFunction');
    const bucketId = logicalIdOf(template, 'AWS::S3::Bucket', 'ArtifactsBucket');
    expect(invoker.Properties.Environment.Variables).toEqual({
      ...limitsToEnvironment(synthesized.config.limits),
      EXECUTOR_FUNCTION_NAME: { Ref: executorId },
      EXECUTOR_CLIENT_TIMEOUT_MS: '32000',
      ARTIFACT_BUCKET: { Ref: bucketId },
      CORS_ALLOW_ORIGIN: '',
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

  it('answers throttling, oversized bodies and integration timeouts in the contract JSON shape', () => {
    const expected: [string, string, string][] = [
      ['THROTTLED', '429', 'Throttled'],
      ['QUOTA_EXCEEDED', '429', 'Throttled'],
      ['REQUEST_TOO_LARGE', '413', 'RequestTooLarge'],
      ['INTEGRATION_TIMEOUT', '504', 'ExecutorTimeout'],
    ];
    for (const [type, statusCode, errorType] of expected) {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: statusCode,
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp(`"errorType": "${errorType}"`) },
      });
    }
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

  it('outputs the API URL and no API key id', () => {
    const outputs = template.findOutputs('*');
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain(`{"Ref":"${apiId}"}`);
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
    expect(nonPreflight).toHaveLength(2);
    for (const method of nonPreflight) {
      expect(method.Properties.ApiKeyRequired).toBe(true);
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
    expect(preflights).toHaveLength(2);
    for (const preflight of preflights) {
      expect(preflight.Properties.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBe(
        "'https://app.example.com'",
      );
    }
    const [, invoker] = invokerOf(template);
    expect(invoker.Properties.Environment.Variables.CORS_ALLOW_ORIGIN).toBe('https://app.example.com');
  });
});
