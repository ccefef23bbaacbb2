import * as fs from 'fs';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { limitsToEnvironment } from '../../lib/config';
import { LAMBDA_VPC_ENI_ACTIONS } from '../../lib/executor-function';
import { logicalIdOf, REPOSITORY_ROOT, resourcesOfType, synthesize, SynthesizedStack } from './helpers';

/** Every file below `directory`, as paths relative to it with forward slashes. */
function filesUnder(directory: string): string[] {
  return (fs.readdirSync(directory, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

/** `arn:<partition>:lambda:<region>:<account>:function:<name>` as CloudFormation renders it. */
function functionArnJoin(name: string, suffix = ''): unknown {
  return {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':lambda:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:function:${name}${suffix}`]],
  };
}

describe('SecurePythonExecutorStack with the default configuration', () => {
  let synthesized: SynthesizedStack;
  let template: Template;
  let executorId: string;
  let bucketId: string;
  let vpcId: string;

  beforeAll(() => {
    synthesized = synthesize();
    template = synthesized.template;
    executorId = logicalIdOf(template, 'AWS::Lambda::Function', 'ExecutorFunction');
    bucketId = logicalIdOf(template, 'AWS::S3::Bucket', 'ArtifactsBucket');
    vpcId = logicalIdOf(template, 'AWS::EC2::VPC', 'NetworkVpc');
  });

  describe('isolated network', () => {
    it('creates no internet gateway, NAT gateway, elastic IP or other way out', () => {
      for (const type of [
        'AWS::EC2::InternetGateway',
        'AWS::EC2::VPCGatewayAttachment',
        'AWS::EC2::EgressOnlyInternetGateway',
        'AWS::EC2::NatGateway',
        'AWS::EC2::EIP',
        'AWS::EC2::VPNGateway',
        'AWS::EC2::TransitGatewayAttachment',
        'AWS::EC2::VPCPeeringConnection',
      ]) {
        template.resourceCountIs(type, 0);
      }
    });

    it('has no routes at all, so no 0.0.0.0/0 or ::/0 route (the only route is the S3 endpoint prefix list route)', () => {
      template.resourceCountIs('AWS::EC2::Route', 0);
    });

    it('has only isolated subnets in two availability zones, none assigning public IPs', () => {
      const subnets = resourcesOfType(template, 'AWS::EC2::Subnet');
      expect(subnets).toHaveLength(2);
      for (const [, subnet] of subnets) {
        expect(subnet.Properties?.MapPublicIpOnLaunch).toBe(false);
        expect(subnet.Properties?.Tags).toEqual(expect.arrayContaining([{ Key: 'aws-cdk:subnet-type', Value: 'Isolated' }]));
      }
      const azs = subnets.map(([, subnet]) => JSON.stringify(subnet.Properties?.AvailabilityZone));
      expect(new Set(azs).size).toBe(2);
    });

    it('keeps the executor in isolated subnets only', () => {
      const subnetRefs = resourcesOfType(template, 'AWS::EC2::Subnet').map(([id]) => ({ Ref: id }));
      const executor = template.findResources('AWS::Lambda::Function')[executorId];
      expect(executor.Properties.VpcConfig.SubnetIds).toEqual(subnetRefs);
    });

    it("restricts the S3 gateway endpoint to writes into this stack's bucket by this account", () => {
      template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        VpcId: { Ref: vpcId },
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'OnlyThisStacksArtifactBucket',
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: 's3:PutObject',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/executions/*']] },
              Condition: {
                StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' }, 'aws:ResourceAccount': { Ref: 'AWS::AccountId' } },
              },
            },
          ],
        },
      });
    });

    it('gives the executor security group no ingress and exactly one egress rule: TCP 443 to the S3 prefix list', () => {
      const groups = resourcesOfType(template, 'AWS::EC2::SecurityGroup');
      expect(groups).toHaveLength(1);
      const [, group] = groups[0];
      expect(group.Properties?.SecurityGroupIngress).toBeUndefined();
      expect(group.Properties?.SecurityGroupEgress).toEqual([
        {
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          DestinationPrefixListId: { 'Fn::GetAtt': [logicalIdOf(template, 'Custom::AWS', 'S3PrefixListLookup'), 'PrefixLists.0.PrefixListId'] },
          Description: 'HTTPS to S3 through the gateway endpoint (artifact uploads)',
        },
      ]);
      // Separate rule resources would add to the group, and an empty inline
      // egress list would let EC2 add its default allow-all rule.
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
      template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
    });

    it('looks up the regional S3 prefix list with a role that can only describe prefix lists and write its logs', () => {
      const lookupId = logicalIdOf(template, 'Custom::AWS', 'S3PrefixListLookup');
      const create = JSON.stringify(template.findResources('Custom::AWS')[lookupId].Properties.Create);
      expect(create).toContain('DescribeManagedPrefixLists');
      expect(create).toContain('prefix-list-name');
      expect(create).toContain('com.amazonaws.');
      const roleId = logicalIdOf(template, 'AWS::IAM::Role', 'PrefixListLookupRole');
      const logGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'PrefixListLookupLogGroup');
      const statements: unknown[] = [];
      const role = template.findResources('AWS::IAM::Role')[roleId];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      for (const policy of role.Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[]) statements.push(...policy.PolicyDocument.Statement);
      for (const [, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
        if (JSON.stringify(policy.Properties?.Roles) === JSON.stringify([{ Ref: roleId }])) {
          statements.push(...(policy.Properties?.PolicyDocument as { Statement: unknown[] }).Statement);
        }
      }
      expect(statements).toEqual([
        { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
        { Effect: 'Allow', Action: 'ec2:DescribeManagedPrefixLists', Resource: '*' },
      ]);
    });

    it('answers NXDOMAIN for every name except the regional S3 names, through a DNS Firewall associated with the VPC', () => {
      const allowId = logicalIdOf(template, 'AWS::Route53Resolver::FirewallDomainList', 'DnsAllowedDomains');
      const allId = logicalIdOf(template, 'AWS::Route53Resolver::FirewallDomainList', 'DnsAllDomains');
      template.hasResourceProperties('AWS::Route53Resolver::FirewallDomainList', {
        Domains: [
          { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          { 'Fn::Join': ['', ['*.s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
        ],
      });
      template.hasResourceProperties('AWS::Route53Resolver::FirewallDomainList', { Domains: ['*'] });
      const groupId = logicalIdOf(template, 'AWS::Route53Resolver::FirewallRuleGroup', 'DnsFirewallRuleGroup');
      const group = template.findResources('AWS::Route53Resolver::FirewallRuleGroup')[groupId];
      expect(group.Properties.FirewallRules).toEqual([
        {
          FirewallDomainListId: { 'Fn::GetAtt': [allowId, 'Id'] },
          Priority: 100,
          Action: 'ALLOW',
          FirewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN',
        },
        { FirewallDomainListId: { 'Fn::GetAtt': [allId, 'Id'] }, Priority: 200, Action: 'BLOCK', BlockResponse: 'NXDOMAIN' },
      ]);
      template.resourceCountIs('AWS::Route53Resolver::FirewallRuleGroupAssociation', 1);
      template.hasResourceProperties('AWS::Route53Resolver::FirewallRuleGroupAssociation', {
        FirewallRuleGroupId: { 'Fn::GetAtt': [groupId, 'Id'] },
        VpcId: { Ref: vpcId },
        Priority: 101,
      });
      // Fail-closed is the default; a config that opens it must never appear.
      template.resourceCountIs('AWS::Route53Resolver::FirewallConfig', 0);
    });

    it('logs all VPC traffic to a log group with retention', () => {
      const flowLogGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'NetworkFlowLogGroup');
      template.resourceCountIs('AWS::EC2::FlowLog', 1);
      template.hasResourceProperties('AWS::EC2::FlowLog', {
        ResourceId: { Ref: vpcId },
        ResourceType: 'VPC',
        TrafficType: 'ALL',
        LogDestinationType: 'cloud-watch-logs',
        LogGroupName: { Ref: flowLogGroupId },
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
      expect(template.findResources('AWS::Logs::LogGroup')[flowLogGroupId].Properties.RetentionInDays).toBe(30);
    });
  });

  describe('artifact store', () => {
    it('blocks all public access, encrypts, disables ACLs and expires artifacts after one day', () => {
      template.resourceCountIs('AWS::S3::Bucket', 1);
      template.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [{ Id: 'expire-artifacts', Status: 'Enabled', ExpirationInDays: 1, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }],
        },
      });
      const bucket = template.findResources('AWS::S3::Bucket')[bucketId];
      expect(bucket.Properties.WebsiteConfiguration).toBeUndefined();
      expect(bucket.Properties.AccessControl).toBeUndefined();
    });

    it('denies plain HTTP, old TLS and object writes that do not come through the VPC endpoint', () => {
      const endpointId = logicalIdOf(template, 'AWS::EC2::VPCEndpoint', 'S3Endpoint');
      const bucketArn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
      const objects = { 'Fn::Join': ['', [bucketArn, '/*']] };
      template.resourceCountIs('AWS::S3::BucketPolicy', 1);
      const [, policy] = resourcesOfType(template, 'AWS::S3::BucketPolicy')[0];
      const statements = (policy.Properties?.PolicyDocument as { Statement: unknown[] }).Statement;
      expect(statements).toEqual([
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: [bucketArn, objects],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: [bucketArn, objects],
          Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
        },
        {
          Sid: 'DenyObjectWritesOutsideExecutorEndpoint',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:PutObject',
          Resource: objects,
          Condition: { StringNotEquals: { 'aws:SourceVpce': { Ref: endpointId } } },
        },
      ]);
      for (const statement of statements as { Effect: string }[]) {
        expect(statement.Effect).toBe('Deny');
      }
    });
  });

  describe('executor function', () => {
    it('runs the executor as a 256 MB, 30 s container image on x86_64, reserving no concurrency by default so a new account can deploy', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: 'workflow-python-executor',
        PackageType: 'Image',
        MemorySize: 256,
        Timeout: 30,
        Architectures: ['x86_64'],
      });
      const executor = template.findResources('AWS::Lambda::Function')[executorId];
      expect(executor.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
      expect(executor.Properties.Code.ImageUri).toBeDefined();
      expect(executor.Properties.Runtime).toBeUndefined();
    });

    it('builds the image from the repository root with only what runtime-image/Dockerfile copies, contract/limits.json among it', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(synthesized.outdir, 'SecurePythonExecutor.assets.json'), 'utf8')) as {
        dockerImages: Record<string, { source: { directory: string; dockerFile: string } }>;
      };
      const [image] = Object.values(manifest.dockerImages);
      expect(image.source.dockerFile).toBe('runtime-image/Dockerfile');
      const staged = filesUnder(path.join(synthesized.outdir, image.source.directory));
      const executorPackage = filesUnder(path.join(REPOSITORY_ROOT, 'runtime-image', 'executor'))
        .filter((file) => !file.includes('__pycache__'))
        .map((file) => `runtime-image/executor/${file}`);
      expect(staged.sort()).toEqual(
        ['.dockerignore', 'contract/limits.json', 'runtime-image/Dockerfile', 'runtime-image/requirements.txt', ...executorPackage].sort(),
      );
    });

    it('attaches the executor to the VPC with only the executor security group', () => {
      const groupId = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'ExecutorSecurityGroup');
      const executor = template.findResources('AWS::Lambda::Function')[executorId];
      expect(executor.Properties.VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [groupId, 'GroupId'] }]);
    });

    // test/infra/config.test.ts checks that these are the contract's defaults.
    it('passes the limits to the executor as the environment variables of contract/limits.json', () => {
      const executor = template.findResources('AWS::Lambda::Function')[executorId];
      // Besides the limits only the seal key, which test/infra/seal-key.test.ts checks.
      const { EXECUTOR_SEAL_KEY: sealKey, ...limits } = executor.Properties.Environment.Variables as Record<string, unknown>;
      expect(sealKey).toBeDefined();
      expect(limits).toEqual(limitsToEnvironment(synthesized.config.limits));
    });

    it('grants the executor role only its own logs and the VPC ENI actions, and denies those ENI actions to the function code', () => {
      const roleId = logicalIdOf(template, 'AWS::IAM::Role', 'ExecutorRole');
      const logGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup', 'ExecutorLogGroup');
      const role = template.findResources('AWS::IAM::Role')[roleId];
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.Policies).toHaveLength(1);
      expect(role.Properties.Policies[0].PolicyDocument.Statement).toEqual([
        {
          Sid: 'WriteOwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
        },
        { Sid: 'LambdaManagedVpcEnis', Effect: 'Allow', Action: LAMBDA_VPC_ENI_ACTIONS, Resource: '*' },
        {
          Sid: 'DenyEniActionsToFunctionCode',
          Effect: 'Deny',
          Action: LAMBDA_VPC_ENI_ACTIONS,
          Resource: '*',
          Condition: {
            ArnLike: {
              'lambda:SourceFunctionArn': [functionArnJoin('workflow-python-executor'), functionArnJoin('workflow-python-executor', ':*')],
            },
          },
        },
      ]);
      // No statement may allow S3 or any wildcard action, and no separate policy may be attached.
      for (const statement of role.Properties.Policies[0].PolicyDocument.Statement as { Action: string[] | string }[]) {
        for (const action of ([] as string[]).concat(statement.Action)) {
          expect(action).not.toMatch(/\*|^s3:/);
        }
      }
      for (const [, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
        expect(policy.Properties?.Roles).not.toContainEqual({ Ref: roleId });
      }
      expect(template.findResources('AWS::Lambda::Function')[executorId].Properties.Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    });

    it('never denies logs by lambda:SourceFunctionArn, because the runtime writes its logs with that key set', () => {
      const role = template.findResources('AWS::IAM::Role')[logicalIdOf(template, 'AWS::IAM::Role', 'ExecutorRole')];
      for (const statement of role.Properties.Policies[0].PolicyDocument.Statement as { Effect: string; Action: string[] }[]) {
        if (statement.Effect === 'Deny') {
          expect(statement.Action.filter((action) => action.startsWith('logs:'))).toEqual([]);
        }
      }
    });

    it('attaches no AWS managed policy to any role in the stack', () => {
      for (const [, role] of resourcesOfType(template, 'AWS::IAM::Role')) {
        expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
      }
      template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    });

    it('sets a retention on every log group and gives every function an explicit log group', () => {
      const logGroups = resourcesOfType(template, 'AWS::Logs::LogGroup');
      expect(logGroups.length).toBeGreaterThanOrEqual(5);
      for (const [, logGroup] of logGroups) {
        expect(logGroup.Properties?.RetentionInDays).toBe(30);
      }
      const logGroupRefs = logGroups.map(([id]) => ({ Ref: id }));
      for (const [, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
        expect(logGroupRefs).toContainEqual((fn.Properties?.LoggingConfig as { LogGroup: unknown }).LogGroup);
      }
      // Log retention by custom resource would mean a log group created outside the template.
      template.resourceCountIs('Custom::LogRetention', 0);
    });

    it('reserves no concurrency at all when reservedConcurrency is 0 (Lambda\'s own 0 would throttle every call)', () => {
      const { template: unreserved } = synthesize({ reservedConcurrency: 0 });
      const executor = unreserved.findResources('AWS::Lambda::Function')[logicalIdOf(unreserved, 'AWS::Lambda::Function', 'ExecutorFunction')];
      expect(executor.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    });

    it('acknowledges cfn-lint rules only on Lambda functions, only W3005, each with its reason', () => {
      const acknowledged = Object.entries(template.toJSON().Resources as Record<string, { Type: string; Metadata?: Record<string, any> }>).filter(
        ([, resource]) => resource.Metadata?.['cfn-lint'] !== undefined,
      );
      expect(acknowledged.length).toBe(resourcesOfType(template, 'AWS::Lambda::Function').length);
      for (const [, resource] of acknowledged) {
        expect(resource.Type).toBe('AWS::Lambda::Function');
        expect(resource.Metadata!['cfn-lint'].config.ignore_checks).toEqual(['W3005']);
        expect(resource.Metadata!['cfn-lint'].config.ignore_reasons.W3005).toMatch(/DependsOn on the execution role/);
      }
    });

    it('puts every IAM role under the /secure-python-executor/ path, the only roles the scoped deploy policy may create or pass', () => {
      const roles = resourcesOfType(template, 'AWS::IAM::Role');
      expect(roles.length).toBeGreaterThanOrEqual(5);
      for (const [id, role] of roles) {
        expect({ id, path: role.Properties?.Path }).toEqual({ id, path: '/secure-python-executor/' });
      }
    });

    it("isolates tenants: the executor runs in Lambda's tenant isolation mode, and only the executor (not the invoker)", () => {
      const executor = template.findResources('AWS::Lambda::Function')[executorId];
      expect(executor.Properties.TenancyConfig).toEqual({ TenantIsolationMode: 'PER_TENANT' });
      // The mode excludes provisioned concurrency and SnapStart; neither may appear beside it.
      template.resourceCountIs('AWS::Lambda::Version', 0);
      expect(executor.Properties).not.toHaveProperty('SnapStart');
      const others = resourcesOfType(template, 'AWS::Lambda::Function').filter(([id]) => id !== executorId);
      for (const [id, fn] of others) {
        expect({ id, tenancy: fn.Properties?.TenancyConfig }).toEqual({ id, tenancy: undefined });
      }
      const [, invoker] = resourcesOfType(template, 'AWS::Lambda::Function').find(([id]) => id.includes('InvokerFunction'))!;
      expect((invoker.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables.TENANCY).toBe('perTenant');
    });

    it('exposes no Lambda function URL and lets nothing but the invoker call the executor', () => {
      template.resourceCountIs('AWS::Lambda::Url', 0);
      for (const [, permission] of resourcesOfType(template, 'AWS::Lambda::Permission')) {
        expect(permission.Properties?.FunctionName).not.toEqual({ 'Fn::GetAtt': [executorId, 'Arn'] });
        expect(permission.Properties?.FunctionUrlAuthType).toBeUndefined();
      }
    });
  });

  it('outputs the executor name and ARN, the bucket name, the VPC id and the API URL', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.ExecutorFunctionName.Value).toEqual({ Ref: executorId });
    expect(outputs.ExecutorFunctionArn.Value).toEqual({ 'Fn::GetAtt': [executorId, 'Arn'] });
    expect(outputs.ArtifactBucketName.Value).toEqual({ Ref: bucketId });
    expect(outputs.VpcId.Value).toEqual({ Ref: vpcId });
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain('.execute-api.');
  });
});

describe('SecurePythonExecutorStack with tenancy shared', () => {
  it('creates the executor without tenant isolation mode and tells the invoker to send no tenant id', () => {
    const { template } = synthesize({ tenancy: 'shared' });
    const executor = template.findResources('AWS::Lambda::Function')[logicalIdOf(template, 'AWS::Lambda::Function', 'ExecutorFunction')];
    expect(executor.Properties).not.toHaveProperty('TenancyConfig');
    const [, invoker] = resourcesOfType(template, 'AWS::Lambda::Function').find(([id]) => id.includes('InvokerFunction'))!;
    expect((invoker.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables.TENANCY).toBe('shared');
  });
});

describe('SecurePythonExecutorStack with a name prefix, arm64 and other limits', () => {
  let template: Template;

  beforeAll(() => {
    ({ template } = synthesize({
      namePrefix: 'dev',
      architecture: 'arm64',
      memoryMiB: 1024,
      timeoutSeconds: 60,
      maxRequestTimeoutMs: 50_000,
      apiIntegrationTimeoutMs: 53_000,
      reservedConcurrency: 3,
      artifactRetentionDays: 7,
      logRetentionDays: 90,
    }));
  });

  it('prefixes the function name and points the Deny condition at the prefixed name', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'dev-workflow-python-executor' });
    template.hasResourceProperties('AWS::IAM::Role', {
      Policies: [
        {
          PolicyName: 'executor',
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Condition: { ArnLike: { 'lambda:SourceFunctionArn': [functionArnJoin('dev-workflow-python-executor'), functionArnJoin('dev-workflow-python-executor', ':*')] } },
              }),
            ]),
          },
        },
      ],
    });
  });

  it('applies memory, timeout, reserved concurrency and architecture to the executor, and arm64 to the invoker', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'dev-workflow-python-executor',
      MemorySize: 1024,
      Timeout: 60,
      ReservedConcurrentExecutions: 3,
      Architectures: ['arm64'],
      Environment: { Variables: Match.objectLike({ EXECUTOR_MAX_TIMEOUT_MS: '50000', EXECUTOR_WORKER_MEMORY_MIB: '896' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs22.x', Architectures: ['arm64'] });
  });

  it('applies the artifact and log retention settings', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 7 })] },
    });
    for (const [, logGroup] of resourcesOfType(template, 'AWS::Logs::LogGroup')) {
      expect(logGroup.Properties?.RetentionInDays).toBe(90);
    }
  });
});
