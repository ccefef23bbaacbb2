import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadWorkflow, REPO_ROOT } from './workflow-files';

/**
 * Runs bin/app.ts the way the CDK CLI does (CDK_OUTDIR, CDK_CONTEXT_JSON) and
 * returns the stack artifact ids it wrote, which are the names `cdk deploy`
 * accepts. Runs the real app, so these tests fail when the workflow and the app
 * stop agreeing.
 */
function synthApp(context: Record<string, string>): { result: SpawnSyncReturns<string>; stackIds: string[] } {
  const outdir = mkdtempSync(path.join(tmpdir(), 'github-app-wiring-'));
  try {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'bin/app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
    });
    if (result.status !== 0) {
      return { result, stackIds: [] };
    }
    const manifest = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string }>;
    };
    const stackIds = Object.entries(manifest.artifacts)
      .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
      .map(([id]) => id)
      .sort();
    return { result, stackIds };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

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
