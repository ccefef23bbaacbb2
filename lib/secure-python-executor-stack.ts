import { Aspects, CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ArtifactStore } from './artifact-store';
import { FunctionRoleDependsOnAcknowledgement } from './cfn-lint-acknowledgements';
import { executorFunctionName, SecurePythonExecutorConfig } from './config';
import { ExecutorFunction } from './executor-function';
import { RolePathAspect } from './iam-scope';
import { InvokerApi } from './invoker-api';
import { IsolatedNetwork } from './isolated-network';
import { SealKeySecret } from './seal-key';

export interface SecurePythonExecutorStackProps extends StackProps {
  /** The validated configuration (see `resolveConfig`). */
  readonly config: SecurePythonExecutorConfig;
  /** The directory the executor image is built from (runtime-image/Dockerfile and a .dockerignore inside). @default the repository root */
  readonly imageBuildContext?: string;
  /** The invoker handler source. @default invoker/handler.ts */
  readonly invokerEntry?: string;
}

/** The whole product in one stack: network, artifact bucket, executor, API. */
export class SecurePythonExecutorStack extends Stack {
  public readonly network: IsolatedNetwork;
  public readonly artifacts: ArtifactStore;
  public readonly executor: ExecutorFunction;
  public readonly api: InvokerApi;
  public readonly sealKey: SealKeySecret;

  constructor(scope: Construct, id: string, props: SecurePythonExecutorStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays;
    const architecture = config.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    Aspects.of(this).add(new FunctionRoleDependsOnAcknowledgement());
    Aspects.of(this).add(new RolePathAspect());

    this.artifacts = new ArtifactStore(this, 'Artifacts', { retentionDays: config.artifactRetentionDays });
    this.network = new IsolatedNetwork(this, 'Network', { artifactBucket: this.artifacts.bucket, logRetention });
    this.artifacts.requireWritesThrough(this.network.s3Endpoint);
    this.sealKey = new SealKeySecret(this, 'SealKey', { generation: config.sealKeyGeneration });

    this.executor = new ExecutorFunction(this, 'Executor', {
      functionName: executorFunctionName(config),
      limits: config.limits,
      vpc: this.network.vpc,
      vpcSubnets: this.network.isolatedSubnets,
      securityGroup: this.network.executorSecurityGroup,
      logRetention,
      memoryMiB: config.memoryMiB,
      timeoutSeconds: config.timeoutSeconds,
      reservedConcurrency: config.reservedConcurrency,
      architecture,
      tenancy: config.tenancy,
      imageBuildContext: props.imageBuildContext,
      sealKey: this.sealKey.secret.secretValue,
    });

    this.api = new InvokerApi(this, 'Invoker', {
      config,
      executorFunction: this.executor.function,
      artifactBucket: this.artifacts.bucket,
      architecture,
      logRetention,
      entry: props.invokerEntry,
      sealKey: this.sealKey.secret.secretValue,
    });

    new CfnOutput(this, 'ExecutorFunctionName', {
      value: this.executor.function.functionName,
      description: 'Executor Lambda: aws lambda invoke --function-name <this> with the request JSON',
    });
    new CfnOutput(this, 'ExecutorFunctionArn', { value: this.executor.function.functionArn });
    new CfnOutput(this, 'ArtifactBucketName', { value: this.artifacts.bucket.bucketName });
    new CfnOutput(this, 'VpcId', { value: this.network.vpc.vpcId });
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description: `API base URL: POST <url>execute, GET <url>healthz (${config.authMode} auth)`,
    });
    if (this.api.apiKey !== undefined) {
      new CfnOutput(this, 'ApiKeyId', {
        value: this.api.apiKey.keyId,
        description: 'Read the key with: aws apigateway get-api-key --api-key <this> --include-value --query value --output text',
      });
    }
  }
}
