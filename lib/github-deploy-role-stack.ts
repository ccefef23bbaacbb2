import { App, Aspects, Aws, CfnOutput, Duration, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { RolePathAspect } from './iam-scope';

/** The issuer of the tokens GitHub Actions hands to jobs with `id-token: write`. */
const GITHUB_OIDC_ISSUER_HOST = 'token.actions.githubusercontent.com';

/** The audience aws-actions/configure-aws-credentials asks GitHub to put in the token. */
const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';

/** The qualifier `cdk bootstrap` uses unless told otherwise. */
const DEFAULT_BOOTSTRAP_QUALIFIER = 'hnb659fds';

/**
 * The roles a CDK v2 bootstrap creates that the CLI assumes during `cdk deploy`.
 * The CloudFormation execution role is left out on purpose: only CloudFormation
 * may assume it, the deploy role passes it along.
 */
const CDK_BOOTSTRAP_ROLE_KINDS = ['deploy-role', 'file-publishing-role', 'image-publishing-role', 'lookup-role'] as const;

/** Context keys read by {@link addGithubDeployRoleStack}; pass them with `-c key=value`. */
const GITHUB_DEPLOY_CONTEXT = {
  /** `true` asks for the stack even before owner and repo are given (so synth can say what is missing). */
  request: 'githubDeployRole',
  owner: 'githubOwner',
  repo: 'githubRepo',
  environment: 'githubDeployEnvironment',
  branch: 'githubBranch',
  oidcProviderArn: 'githubOidcProviderArn',
  /** The same key the CDK synthesizer reads, so the role and the deployed stacks agree on the bootstrap. */
  bootstrapQualifier: '@aws-cdk/core:bootstrapQualifier',
} as const;

const GITHUB_DEPLOY_ROLE_STACK_ID = 'GithubDeployRoleStack';

/** A configuration mistake in the GitHub deploy role stack, reported at synth. */
export class GithubDeployRoleConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GithubDeployRoleConfigError';
  }
}

export interface GithubDeployRoleStackProps extends StackProps {
  /** The GitHub user or organization that owns the repository, exactly as GitHub spells it. */
  readonly githubOwner: string;
  /** The repository name, exactly as GitHub spells it. */
  readonly githubRepo: string;
  /**
   * The GitHub environment the deploy job runs in. A job with `environment:`
   * presents the subject `repo:<owner>/<repo>:environment:<name>`, so this must
   * equal the `environment` of the deploy job in `.github/workflows/deploy.yml`.
   * @default 'production'
   */
  readonly deployEnvironment?: string;
  /**
   * The only branch that may deploy. The token of an environment job does not
   * name the branch, so GitHub enforces this through the environment's
   * deployment branch rule; the stack reports it so the admin sets that rule.
   * @default 'main'
   */
  readonly deployBranch?: string;
  /**
   * The ARN of the account's existing GitHub OIDC provider. An account holds at
   * most one provider per issuer URL, so a second stack cannot create another.
   * @default - the stack creates the provider
   */
  readonly existingOidcProviderArn?: string;
  /**
   * The qualifier the account was bootstrapped with (`cdk bootstrap --qualifier`).
   * @default 'hnb659fds'
   */
  readonly bootstrapQualifier?: string;
}

const OWNER_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
// ':' would make the subject ambiguous; '*' and '?' read as wildcards to anyone auditing the policy.
const ENVIRONMENT_PATTERN = /^[^:*?\s](?:[^:*?]{0,253}[^:*?\s])?$/;
const BRANCH_PATTERN = /^[A-Za-z0-9._/-]{1,255}$/;
// The pattern the CDK bootstrap template accepts for --qualifier.
const QUALIFIER_PATTERN = /^[A-Za-z0-9_-]{1,10}$/;
const OIDC_PROVIDER_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/;

/** The `sub` claim GitHub puts in the token of a job that declares `environment: <name>`. */
function githubEnvironmentSubject(owner: string, repo: string, environment: string): string {
  return `repo:${owner}/${repo}:environment:${environment}`;
}

/**
 * The role GitHub Actions assumes through OIDC to run `cdk deploy`: trusted only
 * by one repository's deploy environment, able to do nothing but assume the CDK
 * bootstrap roles, which hold the real deploy permissions.
 */
export class GithubDeployRoleStack extends Stack {
  public readonly role: iam.Role;
  public readonly oidcProviderArn: string;
  public readonly subject: string;

  constructor(scope: Construct, id: string, props: GithubDeployRoleStackProps) {
    const deployEnvironment = props.deployEnvironment ?? 'production';
    const deployBranch = props.deployBranch ?? 'main';
    const qualifier = props.bootstrapQualifier ?? DEFAULT_BOOTSTRAP_QUALIFIER;
    validateProps(props, deployEnvironment, deployBranch, qualifier);

    // Stack reads only the StackProps it knows, so the GitHub fields can ride along.
    super(scope, id, {
      description: `Keyless GitHub Actions deploys of secure-python-executor from ${props.githubOwner}/${props.githubRepo} (environment ${deployEnvironment}).`,
      ...props,
    });

    this.subject = githubEnvironmentSubject(props.githubOwner, props.githubRepo, deployEnvironment);
    Aspects.of(this).add(new RolePathAspect());

    const provider: iam.IOidcProvider = props.existingOidcProviderArn
      ? iam.OidcProviderNative.fromOidcProviderArn(this, 'GithubOidcProvider', props.existingOidcProviderArn)
      : new iam.OidcProviderNative(this, 'GithubOidcProvider', {
          url: `https://${GITHUB_OIDC_ISSUER_HOST}`,
          clientIds: [GITHUB_OIDC_AUDIENCE],
          // No thumbprints: IAM validates GitHub's certificate against its own trusted CAs.
        });
    this.oidcProviderArn = provider.oidcProviderArn;

    // The trailing wildcard is the region: bootstrap role names end with it, and
    // the main stack may be deployed in a region other than this stack's.
    const bootstrapRoleArn = (kind: string, partition: string, account: string): string =>
      `arn:${partition}:iam::${account}:role/cdk-${qualifier}-${kind}-${account}-*`;
    const bootstrapRoleArns = CDK_BOOTSTRAP_ROLE_KINDS.map((kind) => bootstrapRoleArn(kind, Aws.PARTITION, Aws.ACCOUNT_ID));

    this.role = new iam.Role(this, 'DeployRole', {
      description: `Assumed by GitHub Actions jobs with subject ${this.subject}; may only assume the CDK bootstrap roles (qualifier ${qualifier}).`,
      // StringEquals, not StringLike: one exact subject, no pattern that a fork,
      // another branch or a pull request could also match.
      assumedBy: new iam.OpenIdConnectPrincipal(provider, {
        StringEquals: {
          [`${GITHUB_OIDC_ISSUER_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
          [`${GITHUB_OIDC_ISSUER_HOST}:sub`]: this.subject,
        },
      }),
      maxSessionDuration: Duration.hours(1),
      inlinePolicies: {
        AssumeCdkBootstrapRoles: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'AssumeCdkBootstrapRoles',
              actions: ['sts:AssumeRole'],
              resources: bootstrapRoleArns,
            }),
          ],
        }),
      },
    });

    for (const kind of CDK_BOOTSTRAP_ROLE_KINDS) {
      // cdk-nag names each finding after the resource as written in the template,
      // with pseudo parameters spelled <AWS::Name>.
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bootstrapRoleArn(kind, '<AWS::Partition>', '<AWS::AccountId>')}]`,
        reason:
          "The wildcard stands only for the region suffix of this account's CDK bootstrap role names; those roles hold the real deploy permissions and are the only thing this role may assume.",
      });
    }

    new CfnOutput(this, 'DeployRoleArn', {
      description: 'Set this as the repository variable AWS_DEPLOY_ROLE_ARN.',
      value: this.role.roleArn,
    });
    new CfnOutput(this, 'TrustedSubject', {
      description: 'The only OIDC subject the role trusts; the deploy job must run in this GitHub environment.',
      value: this.subject,
    });
    new CfnOutput(this, 'DeployBranch', {
      description: `Restrict the GitHub environment "${deployEnvironment}" to this branch (Settings > Environments > Deployment branches).`,
      value: deployBranch,
    });
    new CfnOutput(this, 'OidcProviderArn', {
      description: 'The GitHub OIDC provider the role trusts; pass it as githubOidcProviderArn to reuse it elsewhere.',
      value: this.oidcProviderArn,
    });
  }
}

function validateProps(props: GithubDeployRoleStackProps, environment: string, branch: string, qualifier: string): void {
  const problems: string[] = [];
  if (!OWNER_PATTERN.test(props.githubOwner)) {
    problems.push(
      `The GitHub owner "${props.githubOwner}" is not a valid user or organization name: use 1 to 39 letters, digits or hyphens, not starting with a hyphen (context key ${GITHUB_DEPLOY_CONTEXT.owner}).`,
    );
  }
  if (!REPO_PATTERN.test(props.githubRepo) || props.githubRepo === '.' || props.githubRepo === '..') {
    problems.push(
      `The GitHub repository "${props.githubRepo}" is not a valid repository name: use letters, digits, '.', '_' or '-' (context key ${GITHUB_DEPLOY_CONTEXT.repo}).`,
    );
  }
  if (!ENVIRONMENT_PATTERN.test(environment)) {
    problems.push(
      `The GitHub environment "${environment}" cannot be trusted exactly: use a name without ':', '*', '?' or surrounding spaces, as in deploy.yml (context key ${GITHUB_DEPLOY_CONTEXT.environment}).`,
    );
  }
  if (!BRANCH_PATTERN.test(branch)) {
    problems.push(
      `The branch "${branch}" is not a plain branch name: use letters, digits, '.', '_', '/' or '-' (context key ${GITHUB_DEPLOY_CONTEXT.branch}).`,
    );
  }
  if (!QUALIFIER_PATTERN.test(qualifier)) {
    problems.push(
      `The bootstrap qualifier "${qualifier}" is not one cdk bootstrap accepts: use 1 to 10 letters, digits, '_' or '-' (context key ${GITHUB_DEPLOY_CONTEXT.bootstrapQualifier}).`,
    );
  }
  if (props.existingOidcProviderArn !== undefined && !OIDC_PROVIDER_ARN_PATTERN.test(props.existingOidcProviderArn)) {
    problems.push(
      `The OIDC provider ARN "${props.existingOidcProviderArn}" is not the ARN of a GitHub Actions provider: expected arn:aws:iam::<account>:oidc-provider/${GITHUB_OIDC_ISSUER_HOST} (context key ${GITHUB_DEPLOY_CONTEXT.oidcProviderArn}), or leave it out to create the provider.`,
    );
  }
  if (problems.length > 0) {
    throw new GithubDeployRoleConfigError(problems.join(' '));
  }
}

function readStringContext(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new GithubDeployRoleConfigError(`The context value ${key} must be a string, but it is ${JSON.stringify(value)}.`);
  }
  return value.trim() === '' ? undefined : value.trim();
}

function readRequestFlag(app: App): boolean | undefined {
  const value: unknown = app.node.tryGetContext(GITHUB_DEPLOY_CONTEXT.request);
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  if (value === true || value === 'true') {
    return true;
  }
  if (value === false || value === 'false') {
    return false;
  }
  throw new GithubDeployRoleConfigError(
    `The context value ${GITHUB_DEPLOY_CONTEXT.request} must be true or false, but it is ${JSON.stringify(value)}.`,
  );
}

/**
 * Adds the GitHub deploy role stack when the context asks for it, and nothing
 * otherwise, so the main stack synthesizes without any GitHub settings.
 *
 * The stack is requested by `-c githubDeployRole=true` or by giving either of
 * `githubOwner` / `githubRepo`; `githubDeployRole=false` turns it off. A request
 * without both owner and repo fails synth with a sentence naming the missing keys.
 */
export function addGithubDeployRoleStack(app: App): GithubDeployRoleStack | undefined {
  const requestFlag = readRequestFlag(app);
  const githubOwner = readStringContext(app, GITHUB_DEPLOY_CONTEXT.owner);
  const githubRepo = readStringContext(app, GITHUB_DEPLOY_CONTEXT.repo);
  const requested = requestFlag ?? (githubOwner !== undefined || githubRepo !== undefined);
  if (!requested) {
    return undefined;
  }

  if (githubOwner === undefined || githubRepo === undefined) {
    const missing: string[] = [];
    if (githubOwner === undefined) missing.push(GITHUB_DEPLOY_CONTEXT.owner);
    if (githubRepo === undefined) missing.push(GITHUB_DEPLOY_CONTEXT.repo);
    throw new GithubDeployRoleConfigError(
      `The ${GITHUB_DEPLOY_ROLE_STACK_ID} needs to know which GitHub repository it trusts, but the context key${missing.length > 1 ? 's' : ''} ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing: run for example \`npx cdk deploy ${GITHUB_DEPLOY_ROLE_STACK_ID} -c ${GITHUB_DEPLOY_CONTEXT.owner}=<owner> -c ${GITHUB_DEPLOY_CONTEXT.repo}=<repo>\`.`,
    );
  }

  return new GithubDeployRoleStack(app, GITHUB_DEPLOY_ROLE_STACK_ID, {
    githubOwner,
    githubRepo,
    deployEnvironment: readStringContext(app, GITHUB_DEPLOY_CONTEXT.environment),
    deployBranch: readStringContext(app, GITHUB_DEPLOY_CONTEXT.branch),
    existingOidcProviderArn: readStringContext(app, GITHUB_DEPLOY_CONTEXT.oidcProviderArn),
    bootstrapQualifier: readStringContext(app, GITHUB_DEPLOY_CONTEXT.bootstrapQualifier),
  });
}
