import * as path from 'path';
import { Duration, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { CORS_ALLOW_HEADERS } from '../contract/http';
import { SEAL_KEY_VARIABLE } from '../contract/seal';
import { TIMING_BUDGET } from '../contract/timing';
import { ApiGatewayAccount } from './api-gateway-account';
import { ARTIFACT_KEY_PREFIX } from './artifact-store';
import { corsOrigins, limitsToEnvironment, SecurePythonExecutorConfig } from './config';
import { addGatewayResponses, gatewayResponseSpecs } from './gateway-responses';

const REPOSITORY_ROOT = path.join(__dirname, '..');
const DEFAULT_INVOKER_ENTRY = path.join(REPOSITORY_ROOT, 'invoker', 'handler.ts');
const API_STAGE_NAME = 'v1';

const { clientWaitBeyondExecutorMs, invokerWorkMs, invokerTimeoutMarginMs } = TIMING_BUDGET;
/** Lambda's largest function timeout (15 minutes). */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

interface InvokerTimeouts {
  /** How long the invoker's Lambda client waits for the executor. */
  readonly clientTimeoutMs: number;
  /** The invoker function's own timeout. */
  readonly functionTimeoutSeconds: number;
}

/**
 * The invoker waits for the executor's own answer, but never past the point
 * where API Gateway has given up on the caller: it answers ExecutorTimeout,
 * logged with its request id, shortly before the integration timeout (one
 * invoker budget early) instead. Its own timeout keeps a margin above that and
 * stays within Lambda's 900 s maximum whatever the settings.
 */
export function invokerTimeouts(config: Pick<SecurePythonExecutorConfig, 'timeoutSeconds' | 'apiIntegrationTimeoutMs'>): InvokerTimeouts {
  const functionTimeoutSeconds = Math.min(
    LAMBDA_MAX_TIMEOUT_SECONDS,
    Math.ceil((Math.min(config.timeoutSeconds * 1000 + clientWaitBeyondExecutorMs, config.apiIntegrationTimeoutMs - invokerWorkMs) + invokerTimeoutMarginMs) / 1000),
  );
  const clientTimeoutMs = Math.min(
    config.timeoutSeconds * 1000 + clientWaitBeyondExecutorMs,
    config.apiIntegrationTimeoutMs - invokerWorkMs,
    functionTimeoutSeconds * 1000 - invokerTimeoutMarginMs,
  );
  return { clientTimeoutMs, functionTimeoutSeconds };
}

export interface InvokerApiProps {
  readonly config: SecurePythonExecutorConfig;
  readonly executorFunction: lambda.IFunction;
  readonly artifactBucket: s3.IBucket;
  readonly architecture: lambda.Architecture;
  readonly logRetention: logs.RetentionDays;
  /** The invoker handler source. @default invoker/handler.ts */
  readonly entry?: string;
  /** The key every invocation of the executor is sealed with, shared with the executor (lib/seal-key.ts). */
  readonly sealKey: SecretValue;
}

/**
 * The HTTPS front: an API Gateway REST API (`POST /execute`, `GET /healthz`,
 * `POST /mcp`) that proxies to the invoker Lambda, which validates, signs the artifact
 * upload and invokes the executor.
 *
 * The API is never open: `iam` mode requires SigV4 (`execute-api:Invoke`) on
 * every method, `apiKey` mode requires a key tied to a usage plan with rate,
 * burst and a daily quota. The stage throttles, writes JSON access logs, and
 * optionally sits behind an AWS WAF web ACL with a per-IP rate rule.
 *
 * Request bodies: API Gateway's own limit is a hard 10 MB and cannot be
 * lowered; the invoker enforces maxRequestBytes (1,000,000 bytes by default,
 * small enough that API Gateway's event for any such body fits Lambda's
 * request limit: lib/proxy-event-size.ts) and answers 413 with the contract's
 * sentence.
 *
 * Every route reaches the invoker, known or not (catch-all methods with the
 * same authentication), so an unknown path gets the contract's 404 and a wrong
 * method its 405, as locally; API Gateway's own answers (unsigned request,
 * throttling, integration timeout, ...) are gateway responses in the same JSON.
 */
export class InvokerApi extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly api: apigw.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly apiKey?: apigw.IApiKey;
  public readonly webAcl?: wafv2.CfnWebACL;
  public readonly cloudWatchAccount?: ApiGatewayAccount;

  constructor(scope: Construct, id: string, props: InvokerApiProps) {
    super(scope, id);
    const { config } = props;
    const { clientTimeoutMs, functionTimeoutSeconds } = invokerTimeouts(config);
    const allowedOrigins = corsOrigins(config.corsAllowOrigin) ?? [];

    const logGroup = new logs.LogGroup(this, 'FunctionLogGroup', { retention: props.logRetention });
    const artifactObjects = props.artifactBucket.arnForObjects(`${ARTIFACT_KEY_PREFIX}*`);
    this.role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Invoker: invoke the executor, sign artifact uploads and downloads, write own logs',
      inlinePolicies: {
        invoker: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'WriteOwnLogs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
            new iam.PolicyStatement({
              sid: 'InvokeExecutor',
              actions: ['lambda:InvokeFunction'],
              resources: [props.executorFunction.functionArn],
            }),
            // Presigned URLs carry the signer's authority: the POST policy the
            // executor uploads with and the GET URLs callers download with are
            // only as good as these two grants, and no wider.
            new iam.PolicyStatement({
              sid: 'SignArtifactUrls',
              actions: ['s3:PutObject', 's3:GetObject'],
              resources: [artifactObjects],
            }),
          ],
        }),
      },
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.artifactBucket)}.Arn>/${ARTIFACT_KEY_PREFIX}*]`,
      reason:
        'Each execution writes under its own executions/<requestId>/ prefix, unknown until the request arrives; ' +
        'the grant is limited to that prefix of this stack\'s bucket and to PutObject/GetObject, which the presigned URLs need.',
    });

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: 'secure-python-executor invoker: validates requests and invokes the executor',
      entry: props.entry ?? DEFAULT_INVOKER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture,
      memorySize: 256,
      timeout: Duration.seconds(functionTimeoutSeconds),
      role: this.role,
      logGroup,
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: path.join(REPOSITORY_ROOT, 'package-lock.json'),
      bundling: {
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        logLevel: nodejs.LogLevel.WARNING,
        // Bundle the AWS SDK rather than use the runtime's copy, so the
        // version that runs is the one package-lock.json pins and tests use.
        externalModules: [],
      },
      environment: {
        ...limitsToEnvironment(config.limits),
        EXECUTOR_FUNCTION_NAME: props.executorFunction.functionName,
        EXECUTOR_CLIENT_TIMEOUT_MS: String(clientTimeoutMs),
        ARTIFACT_BUCKET: props.artifactBucket.bucketName,
        CORS_ALLOW_ORIGIN: allowedOrigins.join(','),
        // Where the invoker finds the caller (user ARN or API key id) and whether it sends the tenant id.
        AUTH_MODE: config.authMode,
        TENANCY: config.tenancy,
        // Resolved by CloudFormation at deploy time, so the role needs no Secrets Manager permission (lib/seal-key.ts).
        [SEAL_KEY_VARIABLE]: props.sealKey.unsafeUnwrap(),
        POWERTOOLS_SERVICE_NAME: 'secure-python-executor-invoker',
        POWERTOOLS_METRICS_NAMESPACE: 'SecurePythonExecutor',
        // esbuild writes the map; Node applies it to stack traces only when asked.
        NODE_OPTIONS: '--enable-source-maps',
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the invoker runtime the project targets and tests (esbuild target node22, DESIGN section 1); it is an AWS-supported ' +
        'LTS runtime. Moving to a newer runtime is a deliberate change with its own test run.',
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', { retention: props.logRetention });
    const methodAuthorization: Pick<apigw.MethodOptions, 'authorizationType' | 'apiKeyRequired'> =
      config.authMode === 'iam'
        ? { authorizationType: apigw.AuthorizationType.IAM, apiKeyRequired: false }
        : { authorizationType: apigw.AuthorizationType.NONE, apiKeyRequired: true };

    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: config.namePrefix === '' ? 'secure-python-executor' : `${config.namePrefix}-secure-python-executor`,
      description: `secure-python-executor API (${config.authMode} auth)`,
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      cloudWatchRole: false,
      apiKeySourceType: apigw.ApiKeySourceType.HEADER,
      deployOptions: {
        stageName: API_STAGE_NAME,
        throttlingRateLimit: config.apiRateLimitRps,
        throttlingBurstLimit: config.apiBurstLimitRequests,
        metricsEnabled: true,
        tracingEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: apigw.AccessLogField.contextRequestId(),
            extendedRequestId: apigw.AccessLogField.contextExtendedRequestId(),
            requestTime: apigw.AccessLogField.contextRequestTime(),
            ip: apigw.AccessLogField.contextIdentitySourceIp(),
            caller: apigw.AccessLogField.contextIdentityCaller(),
            user: apigw.AccessLogField.contextIdentityUser(),
            apiKeyId: apigw.AccessLogField.contextIdentityApiKeyId(),
            httpMethod: apigw.AccessLogField.contextHttpMethod(),
            resourcePath: apigw.AccessLogField.contextResourcePath(),
            protocol: apigw.AccessLogField.contextProtocol(),
            status: apigw.AccessLogField.contextStatus(),
            responseLength: apigw.AccessLogField.contextResponseLength(),
            responseLatencyMs: apigw.AccessLogField.contextResponseLatency(),
            integrationLatencyMs: apigw.AccessLogField.contextIntegrationLatency(),
            integrationStatus: apigw.AccessLogField.contextIntegrationStatus(),
            error: apigw.AccessLogField.contextErrorMessage(),
            wafResponseCode: apigw.AccessLogField.contextWafResponseCode(),
          }),
        ),
      },
    });

    // The stack output ApiUrl is the one place the URL is published.
    this.api.node.tryRemoveChild('Endpoint');
    if (config.apiGatewayCloudWatchRole) {
      this.cloudWatchAccount = new ApiGatewayAccount(this, 'ApiGatewayAccount');
      // The stage's access logs need the account setting to exist first.
      this.api.deploymentStage.node.addDependency(this.cloudWatchAccount.account);
    }

    const integration = new apigw.LambdaIntegration(this.function, {
      proxy: true,
      timeout: Duration.millis(config.apiIntegrationTimeoutMs),
    });
    const execute = this.api.root.addResource('execute');
    const healthz = this.api.root.addResource('healthz');
    // The MCP endpoint (stateless streamable HTTP, JSON answers): the same
    // invoker and the same authentication as /execute, since its tools run code.
    const mcp = this.api.root.addResource('mcp');
    execute.addMethod('POST', integration, methodAuthorization);
    healthz.addMethod('GET', integration, methodAuthorization);
    mcp.addMethod('POST', integration, methodAuthorization);
    // Catch-alls: any other method or path reaches the invoker too (with the
    // same authentication), which answers 405 or 404 in the contract's JSON.
    // Without them API Gateway answers an unknown route as a missing token.
    execute.addMethod('ANY', integration, methodAuthorization);
    healthz.addMethod('ANY', integration, methodAuthorization);
    mcp.addMethod('ANY', integration, methodAuthorization);
    this.api.root.addMethod('ANY', integration, methodAuthorization);
    this.api.root.addResource('{proxy+}').addMethod('ANY', integration, methodAuthorization);
    if (allowedOrigins.length > 0) {
      // Browsers send preflight requests without credentials, so these OPTIONS
      // methods cannot require auth; they are API Gateway mocks that never
      // reach the invoker and only describe what the real methods accept.
      for (const resource of [execute, healthz, mcp]) {
        resource.addCorsPreflight({
          allowOrigins: [...allowedOrigins],
          allowMethods: resource === healthz ? ['GET'] : ['POST'],
          allowHeaders: [...CORS_ALLOW_HEADERS],
          maxAge: Duration.hours(1),
        });
      }
    }
    addGatewayResponses(
      this.api,
      gatewayResponseSpecs({ maxRequestBytes: config.limits.maxRequestBytes, apiIntegrationTimeoutMs: config.apiIntegrationTimeoutMs }),
      allowedOrigins,
    );

    if (config.authMode === 'apiKey') {
      this.apiKey = new apigw.ApiKey(this, 'ApiKey', {
        description: 'Key for the secure-python-executor API; read its value with aws apigateway get-api-key --include-value',
        enabled: true,
      });
      const plan = new apigw.UsagePlan(this, 'UsagePlan', {
        description: 'Rate, burst and daily quota for the secure-python-executor API key',
        throttle: { rateLimit: config.apiRateLimitRps, burstLimit: config.apiBurstLimitRequests },
        quota: { limit: config.apiKeyDailyQuotaRequests, period: apigw.Period.DAY },
        apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
      });
      plan.addApiKey(this.apiKey);
      for (const method of this.api.methods.filter((m) => m.httpMethod !== 'OPTIONS')) {
        Validations.of(method).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: 'authMode apiKey was chosen at deploy time: the method requires an API key bound to a usage plan with rate, burst and daily quota.',
        });
      }
    }
    for (const method of this.api.methods.filter((m) => m.httpMethod !== 'OPTIONS')) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Callers are services and agents, not Cognito users: the API authenticates with SigV4 (authMode iam, the default) or an API key with a usage plan (authMode apiKey).',
      });
    }
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'The invoker validates every body with the contract validator shared with the executor and answers with its exact sentences ' +
        '(contract/requests.json); an API Gateway model would answer differently worded 400s first.',
    });
    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG6',
      reason:
        'Execution logs would copy request data into an API-Gateway-Execution-Logs group this stack does not own or expire; JSON access logs ' +
        'record every request and the invoker logs one structured line per request.',
    });

    if (config.enableWaf) {
      this.webAcl = this.addWebAcl(config.wafRequestsPer5MinutesPerIp);
    } else {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'AWS WAF is opt-in (-c enableWaf=true) because it is billed per web ACL; the API is authenticated and stage-throttled without it.',
      });
    }
  }

  private addWebAcl(requestsPer5MinutesPerIp: number): wafv2.CfnWebACL {
    const metricPrefix = this.api.restApiName.replace(/[^A-Za-z0-9]/g, '');
    const webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: 'Per-IP rate limit in front of the secure-python-executor API',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${metricPrefix}WebAcl`, sampledRequestsEnabled: true },
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: { aggregateKeyType: 'IP', limit: requestsPer5MinutesPerIp, evaluationWindowSec: 300 },
          },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${metricPrefix}RateLimitPerIp`, sampledRequestsEnabled: true },
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: webAcl.attrArn,
    });
    return webAcl;
  }
}

function logicalIdOf(bucket: s3.IBucket): string {
  const cfn = bucket.node.defaultChild;
  if (!(cfn instanceof s3.CfnBucket)) {
    throw new Error('InvokerApi needs a bucket defined in this app (an s3.Bucket), because its IAM grant is checked against the bucket resource.');
  }
  return Stack.of(cfn).resolve(cfn.logicalId) as string;
}
