import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigurationError, configPropsFromContext, resolveConfig, stackName } from '../lib/config';
import { addGithubDeployRoleStack, GithubDeployRoleConfigError } from '../lib/github-deploy-role-stack';
import { applyPermissionsBoundary } from '../lib/iam-scope';
import { SecurePythonExecutorStack } from '../lib/secure-python-executor-stack';

const app = new App();

try {
  const config = resolveConfig(configPropsFromContext((key) => app.node.tryGetContext(key)));
  const mainStack = new SecurePythonExecutorStack(app, 'SecurePythonExecutor', {
    config,
    stackName: stackName(config),
    description: 'secure-python-executor: runs untrusted Python in an isolated Lambda behind an authenticated API',
    // Deliberately environment-agnostic: synth needs no AWS credentials and no
    // lookups, and `cdk deploy` fills in the account and region it deploys to.
  });
  // Only when asked for with -c githubDeployRole=true / githubOwner / githubRepo.
  const deployRoleStack = addGithubDeployRoleStack(app);
  // The scoped bootstrap lets CloudFormation create roles only with this boundary.
  if (config.permissionsBoundaryPolicyName !== '') {
    for (const stack of [mainStack, deployRoleStack]) {
      if (stack !== undefined) applyPermissionsBoundary(stack, config.permissionsBoundaryPolicyName);
    }
  }
} catch (error) {
  if (error instanceof ConfigurationError || error instanceof GithubDeployRoleConfigError) {
    // One readable list of what to fix instead of a stack trace.
    console.error(`Invalid configuration:\n${error.message}`);
    process.exit(1);
  }
  throw error;
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
