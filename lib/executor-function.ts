import * as fs from 'fs';
import * as path from 'path';
import { ArnFormat, Duration, IgnoreMode, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { SEAL_KEY_VARIABLE } from '../contract/seal';
import { ExecutorLimits, limitsToEnvironment, type Tenancy } from './config';

/**
 * The EC2 actions Lambda performs with the execution role to attach a function
 * to a VPC (the same list as the AWS managed policy AWSLambdaVPCAccessExecutionRole).
 */
export const LAMBDA_VPC_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/**
 * The executor image is built from the repository root, so that it can carry
 * contract/limits.json, the file the executor takes its limits from; the
 * root's .dockerignore admits only what the Dockerfile copies.
 */
export const DEFAULT_IMAGE_BUILD_CONTEXT = path.join(__dirname, '..');
/** The executor's Dockerfile, relative to the build context. */
export const EXECUTOR_DOCKERFILE = 'runtime-image/Dockerfile';

export interface ExecutorFunctionProps {
  readonly functionName: string;
  readonly limits: ExecutorLimits;
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly logRetention: logs.RetentionDays;
  /** @default 256 */
  readonly memoryMiB?: number;
  /** @default 30 */
  readonly timeoutSeconds?: number;
  /** Executions at once; 0 reserves nothing and leaves the function to the account's unreserved pool. @default 10 */
  readonly reservedConcurrency?: number;
  /** @default lambda.Architecture.X86_64 */
  readonly architecture?: lambda.Architecture;
  /** `perTenant` turns on Lambda's tenant isolation mode: every invocation must carry a tenant id. @default 'perTenant' */
  readonly tenancy?: Tenancy;
  /** The directory the image is built from, holding runtime-image/Dockerfile and a .dockerignore. @default the repository root */
  readonly imageBuildContext?: string;
  /** The key sealed invocations are opened and signed with, shared with the invoker (lib/seal-key.ts). */
  readonly sealKey: SecretValue;
}

/**
 * The Lambda function that runs untrusted Python, as a container image built
 * from `runtime-image/Dockerfile`.
 *
 * Its role is built to be worthless to the code it runs: the runtime process
 * holds the role's credentials, and a script that reaches them (DESIGN section
 * 5) must find nothing to use. The role may write to its own log group and
 * perform the ENI calls Lambda needs for the VPC; those EC2 calls are then
 * denied whenever they carry `lambda:SourceFunctionArn`, which is set on calls
 * made with the function's credentials from inside the function and absent
 * from Lambda's own ENI management. Logs are not denied that way because the
 * runtime's own log delivery carries the key too.
 */
export class ExecutorFunction extends Construct {
  public readonly function: lambda.DockerImageFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ExecutorFunctionProps) {
    super(scope, id);
    const architecture = props.architecture ?? lambda.Architecture.X86_64;
    const imageBuildContext = props.imageBuildContext ?? DEFAULT_IMAGE_BUILD_CONTEXT;
    const reservedConcurrency = props.reservedConcurrency ?? 10;
    const tenancy = props.tenancy ?? 'perTenant';
    if (!fs.existsSync(path.join(imageBuildContext, EXECUTOR_DOCKERFILE))) {
      throw new Error(
        `The executor image build context ${imageBuildContext} has no ${EXECUTOR_DOCKERFILE}. The executor Lambda is built from it: ` +
          'restore runtime-image/Dockerfile (or pass imageBuildContext) and synthesize again.',
      );
    }
    if (!fs.existsSync(path.join(imageBuildContext, '.dockerignore'))) {
      throw new Error(
        `The executor image build context ${imageBuildContext} has no .dockerignore, so the whole directory (node_modules, cdk.out, .git) ` +
          'would become the image asset: restore the .dockerignore of the repository root and synthesize again.',
      );
    }

    // No fixed name: the group is kept when the stack is deleted (logs are
    // evidence), and a fixed name would then block the next deployment.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });

    // The ARN is assembled from the fixed function name rather than taken from
    // the function, because the function depends on this role.
    const functionArn = Stack.of(this).formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: props.functionName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Executor execution role: own logs and Lambda-managed VPC ENIs only; unusable by function code',
      inlinePolicies: {
        executor: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'WriteOwnLogs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [this.logGroup.logGroupArn],
            }),
            new iam.PolicyStatement({
              sid: 'LambdaManagedVpcEnis',
              actions: LAMBDA_VPC_ENI_ACTIONS,
              resources: ['*'],
            }),
            new iam.PolicyStatement({
              sid: 'DenyEniActionsToFunctionCode',
              effect: iam.Effect.DENY,
              actions: LAMBDA_VPC_ENI_ACTIONS,
              resources: ['*'],
              conditions: { ArnLike: { 'lambda:SourceFunctionArn': [functionArn, `${functionArn}:*`] } },
            }),
          ],
        }),
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Lambda needs the VPC ENI actions on all resources (DescribeNetworkInterfaces and DescribeSubnets have no resource-level permissions, ' +
        'and ENI ids are unknown before creation); the same actions are denied to the function code through lambda:SourceFunctionArn.',
    });

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      functionName: props.functionName,
      description: 'Runs untrusted Python in a per-execution sandboxed worker (secure-python-executor)',
      code: lambda.DockerImageCode.fromImageAsset(imageBuildContext, {
        file: EXECUTOR_DOCKERFILE,
        ignoreMode: IgnoreMode.DOCKER,
        platform: architecture === lambda.Architecture.ARM_64 ? ecrAssets.Platform.LINUX_ARM64 : ecrAssets.Platform.LINUX_AMD64,
      }),
      architecture,
      memorySize: props.memoryMiB ?? 256,
      timeout: Duration.seconds(props.timeoutSeconds ?? 30),
      // Lambda's own 0 would throttle every invocation; here 0 means "no reservation".
      reservedConcurrentExecutions: reservedConcurrency === 0 ? undefined : reservedConcurrency,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [props.securityGroup],
      allowPublicSubnet: false,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        ...limitsToEnvironment(props.limits),
        // Resolved by CloudFormation at deploy time: this VPC has no route to Secrets Manager (lib/seal-key.ts).
        [SEAL_KEY_VARIABLE]: props.sealKey.unsafeUnwrap(),
      },
      // The boundary between callers: an execution environment (its microVM,
      // /tmp, memory and runtime process) only ever serves the one tenant whose
      // invocation created it. Lambda allows the mode only when the function is
      // created, and excludes provisioned concurrency, SnapStart and URLs.
      tenancyConfig: tenancy === 'perTenant' ? lambda.TenancyConfig.PER_TENANT : undefined,
    });
  }
}
