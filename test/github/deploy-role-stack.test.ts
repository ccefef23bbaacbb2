import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  addGithubDeployRoleStack,
  GithubDeployRoleConfigError,
  GithubDeployRoleStack,
} from '../../lib/github-deploy-role-stack';
import { deployEnvironmentName } from './workflow-files';

function synthRoleStack(context: Record<string, unknown>): { stack: GithubDeployRoleStack; template: Template } {
  const app = new App({ context });
  const stack = addGithubDeployRoleStack(app);
  if (stack === undefined) {
    throw new Error('addGithubDeployRoleStack returned no stack for a context that requests it.');
  }
  return { stack, template: Template.fromStack(stack) };
}

const ACME = { githubOwner: 'acme-corp', githubRepo: 'python-runner' };

/** Spells a template value the way a reader would: `{Ref: X}` as `<X>`, Fn::Join flattened. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if (typeof object.Ref === 'string') return `<${object.Ref}>`;
  const join = object['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map(flatten).join(join[0]);
  throw new Error(`Unexpected template value ${JSON.stringify(value)}.`);
}

function onlyRole(template: Template): Record<string, any> {
  const roles = Object.values(template.findResources('AWS::IAM::Role'));
  expect(roles).toHaveLength(1);
  return roles[0].Properties;
}

describe('GithubDeployRoleStack', () => {
  it('trusts only GitHub OIDC tokens for sts.amazonaws.com whose subject is the deploy environment', () => {
    const { template } = synthRoleStack(ACME);
    const trust = onlyRole(template).AssumeRolePolicyDocument;
    const providerId = Object.keys(template.findResources('AWS::IAM::OIDCProvider'))[0];

    expect(trust.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRoleWithWebIdentity',
        Principal: { Federated: { Ref: providerId } },
        Condition: {
          StringEquals: {
            'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
            'token.actions.githubusercontent.com:sub': 'repo:acme-corp/python-runner:environment:production',
          },
        },
      },
    ]);
  });

  it('pins the trusted subject to the environment that deploy.yml deploys in', () => {
    // A job with `environment:` presents repo:<owner>/<repo>:environment:<name>;
    // if deploy.yml and the role's default disagree, every deploy is refused.
    const environment = deployEnvironmentName();
    const { template } = synthRoleStack(ACME);
    const conditions = onlyRole(template).AssumeRolePolicyDocument.Statement[0].Condition;

    expect(conditions.StringEquals['token.actions.githubusercontent.com:sub']).toBe(`repo:acme-corp/python-runner:environment:${environment}`);
    expect(conditions.StringLike).toBeUndefined();
  });

  it('trusts a renamed environment exactly when told to', () => {
    const { template } = synthRoleStack({ ...ACME, githubDeployEnvironment: 'prod-eu' });
    const conditions = onlyRole(template).AssumeRolePolicyDocument.Statement[0].Condition;

    expect(conditions.StringEquals['token.actions.githubusercontent.com:sub']).toBe('repo:acme-corp/python-runner:environment:prod-eu');
  });

  it('creates the GitHub OIDC provider for the sts.amazonaws.com audience', () => {
    const { template } = synthRoleStack(ACME);

    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  it('reuses an existing OIDC provider by ARN instead of creating a second one', () => {
    const providerArn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const { template } = synthRoleStack({ ...ACME, githubOidcProviderArn: providerArn });

    template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    expect(onlyRole(template).AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Federated: providerArn });
  });

  it('may do nothing but assume the CDK bootstrap roles of its own account', () => {
    const { template } = synthRoleStack(ACME);
    const role = onlyRole(template);

    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.PermissionsBoundary).toBeUndefined();
    expect(role.Policies).toHaveLength(1);
    const statements = role.Policies[0].PolicyDocument.Statement;
    expect(statements).toHaveLength(1);
    expect(statements[0].Effect).toBe('Allow');
    expect(statements[0].Action).toBe('sts:AssumeRole');
    expect(statements[0].Condition).toBeUndefined();
    expect(statements[0].Resource.map(flatten).sort()).toEqual([
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-deploy-role-<AWS::AccountId>-*',
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-file-publishing-role-<AWS::AccountId>-*',
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-image-publishing-role-<AWS::AccountId>-*',
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-lookup-role-<AWS::AccountId>-*',
    ]);
  });

  it('follows a custom bootstrap qualifier from the CDK context', () => {
    const { template } = synthRoleStack({ ...ACME, '@aws-cdk/core:bootstrapQualifier': 'team7' });
    const resources: string[] = onlyRole(template).Policies[0].PolicyDocument.Statement[0].Resource.map(flatten);

    expect(resources).toHaveLength(4);
    for (const resource of resources) {
      expect(resource).toMatch(/^arn:<AWS::Partition>:iam::<AWS::AccountId>:role\/cdk-team7-[a-z-]+-role-<AWS::AccountId>-\*$/);
    }
  });

  it('limits every session to one hour', () => {
    const { template } = synthRoleStack(ACME);

    expect(onlyRole(template).MaxSessionDuration).toBe(3600);
  });

  it('tells the admin the role ARN, the trusted subject and the branch to restrict the environment to', () => {
    const { template } = synthRoleStack(ACME);

    template.hasOutput('DeployRoleArn', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeployRole'), 'Arn'] } });
    template.hasOutput('TrustedSubject', { Value: 'repo:acme-corp/python-runner:environment:production' });
    template.hasOutput('DeployBranch', { Value: 'main' });
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    const { stack } = synthRoleStack(ACME);
    const report = new AwsSolutionsChecks().validateScope(stack);

    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(report.success).toBe(true);
  });
});

describe('addGithubDeployRoleStack', () => {
  it('adds nothing when the context does not ask for the deploy role, so the main stack synthesizes alone', () => {
    const app = new App();

    expect(addGithubDeployRoleStack(app)).toBeUndefined();
    expect(app.node.children).toHaveLength(0);
  });

  it('stays off when githubDeployRole=false even if an owner is set', () => {
    const app = new App({ context: { githubDeployRole: 'false', githubOwner: 'acme-corp' } });

    expect(addGithubDeployRoleStack(app)).toBeUndefined();
  });

  it('names both missing context keys when the stack is requested without a repository', () => {
    const app = new App({ context: { githubDeployRole: 'true' } });

    expect(() => addGithubDeployRoleStack(app)).toThrow(GithubDeployRoleConfigError);
    expect(() => addGithubDeployRoleStack(app)).toThrow(
      'The GithubDeployRoleStack needs to know which GitHub repository it trusts, but the context keys githubOwner and githubRepo are missing: ' +
        'run for example `npx cdk deploy GithubDeployRoleStack -c githubOwner=<owner> -c githubRepo=<repo>`.',
    );
  });

  it('names only the missing key when the owner is given without the repository', () => {
    const app = new App({ context: { githubOwner: 'acme-corp' } });

    expect(() => addGithubDeployRoleStack(app)).toThrow(/the context key githubRepo is missing:/);
  });

  it.each([
    [{ ...ACME, githubOwner: 'acme corp' }, /GitHub owner "acme corp" is not a valid user or organization name/],
    [{ ...ACME, githubRepo: '..' }, /GitHub repository "\.\." is not a valid repository name/],
    [{ ...ACME, githubDeployEnvironment: 'prod:*' }, /GitHub environment "prod:\*" cannot be trusted exactly/],
    [{ ...ACME, githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/example.com' }, /is not the ARN of a GitHub Actions provider/],
    [{ ...ACME, '@aws-cdk/core:bootstrapQualifier': 'much-too-long-qualifier' }, /bootstrap qualifier "much-too-long-qualifier" is not one cdk bootstrap accepts/],
    [{ ...ACME, githubDeployRole: 'yes' }, /githubDeployRole must be true or false/],
  ])('rejects invalid context %j with a sentence naming the fix', (context, message) => {
    const app = new App({ context });

    expect(() => addGithubDeployRoleStack(app)).toThrow(message);
  });
});
