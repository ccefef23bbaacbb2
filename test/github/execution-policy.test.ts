import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { synthApp as runApp } from './synth-app';
import { REPO_ROOT } from './workflow-files';

/*
 * The scoped CloudFormation execution policy (what `cdk bootstrap
 * --cloudformation-execution-policies` gives CloudFormation instead of
 * AdministratorAccess) and the permissions boundary every role then carries.
 * Both are shipped as JSON in scripts/iam/; these tests hold them against the
 * templates the real app synthesizes, so a resource added to the stack without
 * its permission, or a role granted more than the boundary allows, fails here
 * and not halfway through a deploy.
 */

type Statement = { Sid?: string; Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: string | string[]; Condition?: Record<string, Record<string, unknown>> };
type PolicyDocument = { Statement: Statement[] };
type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

const executionPolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'scripts/iam/cfn-execution-policy.json'), 'utf8')) as PolicyDocument;
const boundary = JSON.parse(readFileSync(path.join(REPO_ROOT, 'scripts/iam/permissions-boundary.json'), 'utf8')) as PolicyDocument;
const BOUNDARY_NAME = 'secure-python-executor-boundary';

/** What CloudFormation itself calls to create each resource type the app uses. */
const ACTIONS_BY_RESOURCE_TYPE: Readonly<Record<string, readonly string[]>> = {
  'AWS::ApiGateway::Account': ['apigateway:PATCH', 'iam:PassRole'],
  'AWS::ApiGateway::ApiKey': ['apigateway:POST'],
  'AWS::ApiGateway::Deployment': ['apigateway:POST'],
  'AWS::ApiGateway::GatewayResponse': ['apigateway:PUT'],
  'AWS::ApiGateway::Method': ['apigateway:PUT'],
  'AWS::ApiGateway::Resource': ['apigateway:POST'],
  'AWS::ApiGateway::RestApi': ['apigateway:POST'],
  'AWS::ApiGateway::Stage': ['apigateway:POST', 'apigateway:PATCH'],
  'AWS::ApiGateway::UsagePlan': ['apigateway:POST'],
  'AWS::ApiGateway::UsagePlanKey': ['apigateway:POST'],
  'AWS::CDK::Metadata': [],
  'AWS::EC2::FlowLog': ['ec2:CreateFlowLogs', 'iam:PassRole'],
  'AWS::EC2::RouteTable': ['ec2:CreateRouteTable'],
  'AWS::EC2::SecurityGroup': ['ec2:CreateSecurityGroup', 'ec2:RevokeSecurityGroupEgress', 'ec2:AuthorizeSecurityGroupEgress'],
  'AWS::EC2::Subnet': ['ec2:CreateSubnet'],
  'AWS::EC2::SubnetRouteTableAssociation': ['ec2:AssociateRouteTable'],
  'AWS::EC2::VPC': ['ec2:CreateVpc', 'ec2:ModifyVpcAttribute'],
  'AWS::EC2::VPCEndpoint': ['ec2:CreateVpcEndpoint'],
  'AWS::IAM::OIDCProvider': ['iam:CreateOpenIDConnectProvider'],
  'AWS::IAM::Policy': ['iam:PutRolePolicy'],
  'AWS::IAM::Role': ['iam:CreateRole', 'iam:PutRolePolicy'],
  'AWS::Lambda::Function': ['lambda:CreateFunction', 'iam:PassRole', 'ecr:BatchGetImage', 's3:GetObject'],
  'AWS::Lambda::Permission': ['lambda:AddPermission'],
  'AWS::Logs::LogGroup': ['logs:CreateLogGroup', 'logs:PutRetentionPolicy'],
  'AWS::Route53Resolver::FirewallDomainList': ['route53resolver:CreateFirewallDomainList', 'route53resolver:UpdateFirewallDomains'],
  'AWS::Route53Resolver::FirewallRuleGroup': ['route53resolver:CreateFirewallRuleGroup', 'route53resolver:CreateFirewallRule'],
  'AWS::Route53Resolver::FirewallRuleGroupAssociation': ['route53resolver:AssociateFirewallRuleGroup'],
  'AWS::S3::Bucket': ['s3:CreateBucket', 's3:PutBucketPublicAccessBlock', 's3:PutEncryptionConfiguration', 's3:PutLifecycleConfiguration', 's3:PutBucketOwnershipControls'],
  'AWS::S3::BucketPolicy': ['s3:PutBucketPolicy'],
  // GetSecretValue: CloudFormation resolves the functions' dynamic references to it with its own role.
  'AWS::SecretsManager::Secret': ['secretsmanager:GetRandomPassword', 'secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue'],
  'AWS::WAFv2::WebACL': ['wafv2:CreateWebACL'],
  'AWS::WAFv2::WebACLAssociation': ['wafv2:AssociateWebACL', 'apigateway:SetWebACL'],
  // CloudFormation invokes the custom resource's provider function itself.
  'Custom::AWS': ['lambda:InvokeFunction'],
};

function asList(value: string | string[]): string[] {
  return typeof value === 'string' ? [value] : value;
}

/** IAM's wildcard match: '*' any run of characters, '?' one; actions compare case-insensitively. */
function wildcardMatches(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = `^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`;
  return new RegExp(source, ignoreCase ? 'i' : '').test(value);
}

function allows(policy: PolicyDocument, action: string): boolean {
  const matching = (effect: string) =>
    policy.Statement.some((statement) => statement.Effect === effect && asList(statement.Action).some((pattern) => wildcardMatches(pattern, action, true)));
  return matching('Allow') && !matching('Deny');
}

/** Every template bin/app.ts synthesizes for `context`, by stack id. */
function synthApp(context: Record<string, string>): Record<string, Template> {
  const { result, templates } = runApp(context);
  if (result.status !== 0) throw new Error(`bin/app.ts failed: ${result.stderr}`);
  return templates;
}

function rolePolicies(template: Template): [string, Statement][] {
  const found: [string, Statement][] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    const documents: PolicyDocument[] =
      resource.Type === 'AWS::IAM::Role'
        ? (resource.Properties?.Policies ?? []).map((policy: { PolicyDocument: PolicyDocument }) => policy.PolicyDocument)
        : resource.Type === 'AWS::IAM::Policy'
          ? [resource.Properties!.PolicyDocument]
          : [];
    for (const document of documents) for (const statement of document.Statement) found.push([id, statement]);
  }
  return found;
}

describe('the scoped CloudFormation execution policy and permissions boundary', () => {
  let plain: Record<string, Template>;
  let scoped: Record<string, Template>;

  beforeAll(() => {
    plain = synthApp({});
    scoped = synthApp({
      permissionsBoundaryPolicyName: BOUNDARY_NAME,
      githubOwner: 'acme-corp',
      githubRepo: 'python-runner',
      authMode: 'apiKey',
      enableWaf: 'true',
      corsAllowOrigin: 'https://app.example.com',
    });
  }, 120_000);

  it('lets CloudFormation create every resource type the app synthesizes, in every configuration', () => {
    const types = new Set([...Object.values(plain), ...Object.values(scoped)].flatMap((template) => Object.values(template.Resources).map((resource) => resource.Type)));
    expect(types.size).toBeGreaterThan(25);
    for (const type of types) {
      const needed = ACTIONS_BY_RESOURCE_TYPE[type];
      // A new resource type needs its permissions added to scripts/iam/cfn-execution-policy.json (and here).
      expect({ type, known: needed !== undefined }).toEqual({ type, known: true });
      for (const action of needed ?? []) {
        expect({ type, action, allowed: allows(executionPolicy, action) }).toEqual({ type, action, allowed: true });
      }
    }
  });

  it('reaches only secrets named after the seal key\'s logical id, which CloudFormation begins the names it generates with', () => {
    const secretIds = [...Object.values(plain), ...Object.values(scoped)].flatMap((template) =>
      Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::SecretsManager::Secret').map(([id]) => id),
    );
    expect(secretIds.length).toBeGreaterThan(0);
    const scopedStatement = executionPolicy.Statement.find((statement) => asList(statement.Action).includes('secretsmanager:GetSecretValue'))!;
    const [pattern] = asList(scopedStatement.Resource);
    expect(asList(scopedStatement.Resource)).toEqual(['arn:aws:secretsmanager:*:*:secret:SealKeyGeneration*']);
    for (const id of secretIds) {
      expect({ id, covered: wildcardMatches(pattern!, `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${id}-AbCdEfGhIjKl`, false) }).toEqual({ id, covered: true });
    }
  });

  it('grants no service-wide wildcard and nothing on IAM users, groups, policies or other roles', () => {
    for (const statement of executionPolicy.Statement.filter((candidate) => candidate.Effect === 'Allow')) {
      for (const action of asList(statement.Action)) {
        expect(action).not.toMatch(/^(\*|[a-z0-9-]+:\*)$/);
        if (action.startsWith('iam:')) {
          expect(action).not.toMatch(/User|Group|^iam:(Create|Delete|SetDefault)Policy|PolicyVersion|AccessKey|LoginProfile|ServiceLinkedRole/);
          for (const resource of asList(statement.Resource)) {
            expect(resource).toMatch(/^arn:aws:iam::\*:(role\/secure-python-executor\/\*|oidc-provider\/token\.actions\.githubusercontent\.com)$/);
          }
        }
      }
    }
    for (const forbidden of ['iam:CreateUser', 'iam:CreateAccessKey', 'iam:CreatePolicy', 'iam:CreatePolicyVersion', 'iam:AttachUserPolicy', 'organizations:LeaveOrganization', 'kms:CreateKey', 'cloudtrail:StopLogging', 'sts:AssumeRole']) {
      expect({ forbidden, allowed: allows(executionPolicy, forbidden) }).toEqual({ forbidden, allowed: false });
    }
  });

  it('creates or changes a role only when it carries the permissions boundary, and never lifts it', () => {
    const roleWrites = ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:AttachRolePolicy', 'iam:PutRolePermissionsBoundary'];
    for (const action of roleWrites) {
      const granting = executionPolicy.Statement.filter((statement) => statement.Effect === 'Allow' && asList(statement.Action).includes(action));
      expect(granting).toHaveLength(1);
      expect(granting[0].Condition).toEqual({ StringLike: { 'iam:PermissionsBoundary': `arn:aws:iam::*:policy/${BOUNDARY_NAME}` } });
    }
    expect(allows(executionPolicy, 'iam:DeleteRolePermissionsBoundary')).toBe(false);
    const passRole = executionPolicy.Statement.find((statement) => asList(statement.Action).includes('iam:PassRole'))!;
    expect(passRole.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': ['lambda.amazonaws.com', 'apigateway.amazonaws.com', 'vpc-flow-logs.amazonaws.com'] },
    });
  });

  it('attaches the boundary to every role of both stacks when permissionsBoundaryPolicyName is set, and to none otherwise', () => {
    for (const [stackId, template] of Object.entries(scoped)) {
      const roles = Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::IAM::Role');
      expect(roles.length).toBeGreaterThan(0);
      for (const [id, role] of roles) {
        expect({ stackId, id, boundary: JSON.stringify(role.Properties?.PermissionsBoundary) }).toEqual({
          stackId,
          id,
          boundary: expect.stringContaining(`:policy/${BOUNDARY_NAME}`),
        });
      }
    }
    for (const template of Object.values(plain)) {
      for (const resource of Object.values(template.Resources).filter((candidate) => candidate.Type === 'AWS::IAM::Role')) {
        expect(resource.Properties?.PermissionsBoundary).toBeUndefined();
      }
    }
  });

  it('puts every role of both stacks under the /secure-python-executor/ path the policy allows', () => {
    for (const template of Object.values(scoped)) {
      for (const resource of Object.values(template.Resources).filter((candidate) => candidate.Type === 'AWS::IAM::Role')) {
        expect(resource.Properties?.Path).toBe('/secure-python-executor/');
      }
    }
  });

  it('keeps every permission the roles are granted inside the boundary, so the boundary takes nothing they need', () => {
    const statements = Object.values(scoped).flatMap(rolePolicies);
    expect(statements.length).toBeGreaterThan(5);
    for (const [roleId, statement] of statements.filter(([, candidate]) => candidate.Effect === 'Allow')) {
      for (const action of asList(statement.Action)) {
        expect({ roleId, action, withinBoundary: allows(boundary, action) }).toEqual({ roleId, action, withinBoundary: true });
      }
    }
  });
});
