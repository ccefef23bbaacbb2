import { synthApp } from './synth-app';
import { loadWorkflow } from './workflow-files';

function deployedStackName(): string {
  const deployStep = (loadWorkflow('deploy.yml').workflow.jobs.deploy.steps ?? []).find((step) => /\bcdk deploy\b/.test(step.run ?? ''));
  const match = /\bcdk deploy (\S+)/.exec(deployStep?.run ?? '');
  if (!match) {
    throw new Error('deploy.yml has no `cdk deploy <stack>` step.');
  }
  return match[1];
}

describe('the CDK app and the GitHub workflows', () => {
  it('synthesizes only the main stack when no GitHub context is given, and deploy.yml names that stack', () => {
    const { result, stackIds } = synthApp({});

    // On failure this shows synth's own error output rather than a bare exit status.
    expect(result.status === 0 ? '' : result.stderr).toBe('');
    expect(stackIds).toEqual([deployedStackName()]);
  });

  it('adds GithubDeployRoleStack beside the main stack when owner and repo are given', () => {
    const { result, stackIds } = synthApp({ githubOwner: 'acme-corp', githubRepo: 'python-runner' });

    expect(result.status === 0 ? '' : result.stderr).toBe('');
    expect(stackIds).toEqual(['GithubDeployRoleStack', deployedStackName()].sort());
  });

  it('fails synth with a sentence naming the missing keys when the role stack is requested without them', () => {
    const { result } = synthApp({ githubDeployRole: 'true' });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('the context keys githubOwner and githubRepo are missing');
  });
});
