import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addGithubDeployRoleStack } from '../../lib/github-deploy-role-stack';
import { environmentName, Job, loadWorkflow, LoadedWorkflow, Step, WORKFLOW_NAMES } from './workflow-files';

const workflows: LoadedWorkflow[] = WORKFLOW_NAMES.map(loadWorkflow);
const ci = loadWorkflow('ci.yml').workflow;
const deploy = loadWorkflow('deploy.yml').workflow;
const deployJob: Job = deploy.jobs.deploy;

function stepUsing(job: Job, action: string): Step | undefined {
  return (job.steps ?? []).find((step) => step.uses?.split('@')[0] === action);
}

function stepIndex(job: Job, predicate: (step: Step) => boolean): number {
  return (job.steps ?? []).findIndex(predicate);
}

function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : ([] as string[]).concat(job.needs);
}

describe.each(workflows)('$file', ({ file, text, workflow }) => {
  it('opens with a comment saying what the workflow is for', () => {
    const lines = text.split('\n');
    const leadingComment = lines.slice(0, lines.findIndex((line) => !line.startsWith('#')));

    expect(leadingComment.length).toBeGreaterThanOrEqual(2);
    expect(leadingComment[0]).toMatch(/^# \w+: \S.{20,}/);
  });

  it('pins every action to a full commit SHA with the version in a comment', () => {
    const usesLines = text.split('\n').filter((line) => /^\s*(-\s+)?uses:/.test(line));
    const parsedUses = Object.values(workflow.jobs).flatMap((job) => [job.uses, ...(job.steps ?? []).map((step) => step.uses)]).filter((uses): uses is string => uses !== undefined);

    // Every `uses` GitHub would see is on a line of its own that the check below reads.
    expect(usesLines).toHaveLength(parsedUses.length);
    expect(parsedUses.length).toBeGreaterThan(0);
    for (const line of usesLines) {
      const [, reference, comment] = /uses:\s*(\S+)\s*(.*)$/.exec(line) ?? [];
      if (reference.startsWith('./')) {
        // A workflow in this repository runs at the same commit as the caller.
        expect(reference).toMatch(/^\.\/\.github\/workflows\/[\w-]+\.ya?ml$/);
        continue;
      }
      expect(reference).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      expect(comment).toMatch(/^# v\d+\.\d+\.\d+$/);
    }
  });

  it('gives the token only contents: read unless a job declares more', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });

  it('grants id-token: write to no job but the deploy job', () => {
    for (const [jobId, job] of Object.entries(workflow.jobs)) {
      if (file === 'deploy.yml' && jobId === 'deploy') continue;
      expect(job.permissions ?? {}).not.toHaveProperty('id-token');
      expect(job.permissions).not.toBe('write-all');
      for (const level of Object.values((job.permissions as Record<string, string> | undefined) ?? {})) {
        expect(level).not.toBe('write');
      }
    }
  });

  it('holds no long-lived AWS keys and no secrets at all', () => {
    expect(text).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN/i);
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|aws-session-token/i);
    expect(text).not.toMatch(/\bsecrets\./);
  });

  it('never runs untrusted pull request code with a privileged trigger', () => {
    expect(workflow.on).not.toHaveProperty('pull_request_target');
    expect(workflow.on).not.toHaveProperty('workflow_run');
  });
});

describe('ci.yml', () => {
  it('runs on pull requests and pushes, and when deploy.yml calls it', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
    // No branch filter: a push to any branch is checked.
    expect(ci.on.push).toBeNull();
  });

  it('sets up Node.js 22, the functions\' runtime, with the npm cache and runs the project CI script', () => {
    const job = ci.jobs.check;
    const setupNode = stepUsing(job, 'actions/setup-node');

    expect(setupNode?.with).toEqual({ 'node-version': 22, cache: 'npm' });
    expect(stepIndex(job, (step) => step.uses?.startsWith('actions/checkout@') ?? false)).toBe(0);
    expect(stepIndex(job, (step) => step.run === 'bash .ci/run')).toBeGreaterThan(stepIndex(job, (step) => step === setupNode));
  });

  it('runs in Debian 12 with Node.js 22, where the apt packages .ci/run installs exist', () => {
    expect(ci.jobs.check.container).toMatchObject({ image: expect.stringMatching(/^node:22-bookworm/) });
  });

  it('runs the local server, its tests and verify-deployment against it on Node.js 20 too', () => {
    const job = ci.jobs['local-server-node20'];
    expect(job.container).toMatchObject({ image: expect.stringMatching(/^node:20-bookworm/) });
    expect(stepUsing(job, 'actions/setup-node')?.with).toEqual({ 'node-version': 20, cache: 'npm' });
    const runs = (job.steps ?? []).map((step) => step.run ?? '');
    expect(runs).toContain('bash scripts/verify-local.sh');
    expect(runs.some((run) => run.includes('test/local/verify-deployment.test.ts'))).toBe(true);
    expect(job.env).toMatchObject({ SANDBOX_PYTHON: '/usr/bin/python3' });
  });
});

describe('deploy.yml', () => {
  it('deploys on pushes to main and on manual dispatch only', () => {
    expect(Object.keys(deploy.on).sort()).toEqual(['push', 'workflow_dispatch']);
    expect(deploy.on.push).toEqual({ branches: ['main'] });
    expect(deployJob.if).toBe("github.ref == 'refs/heads/main'");
  });

  it('runs the whole CI before it deploys', () => {
    expect(needsOf(deployJob)).toContain('test');
    expect(deploy.jobs.test.uses).toBe('./.github/workflows/ci.yml');
    expect(deploy.jobs.test.permissions).toEqual({ contents: 'read' });
  });

  it('asks for an OIDC token only in the deploy job, and for nothing else it does not need', () => {
    expect(deployJob.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
  });

  it('assumes the deploy role through OIDC with the role and region from repository variables', () => {
    const configure = stepUsing(deployJob, 'aws-actions/configure-aws-credentials');

    expect(configure?.with).toEqual({
      'role-to-assume': '${{ vars.AWS_DEPLOY_ROLE_ARN }}',
      'aws-region': '${{ vars.AWS_REGION }}',
      'role-session-name': expect.stringMatching(/^github-deploy-\$\{\{ github\.run_id \}\}/),
      'role-duration-seconds': 3600,
    });
  });

  it('deploys in a GitHub environment whose subject the deploy role trusts', () => {
    const environment = environmentName(deployJob);
    const role = addGithubDeployRoleStack(new App({ context: { githubOwner: 'acme-corp', githubRepo: 'python-runner' } }));
    const trust = Object.values(Template.fromStack(role!).findResources('AWS::IAM::Role'))[0].Properties.AssumeRolePolicyDocument;

    expect(environment).toBe('production');
    expect(trust.Statement[0].Condition.StringEquals['token.actions.githubusercontent.com:sub']).toBe(
      `repo:acme-corp/python-runner:environment:${environment}`,
    );
  });

  it('never lets two deploys overlap or cancels one halfway', () => {
    expect(deployJob.concurrency).toEqual({ group: expect.stringMatching(/\S/), 'cancel-in-progress': false });
    expect(deploy.concurrency).toBeUndefined();
  });

  it('sets up Buildx with the local engine, and QEMU only when the image platform differs from the runner', () => {
    const buildx = stepUsing(deployJob, 'docker/setup-buildx-action');
    const qemu = stepUsing(deployJob, 'docker/setup-qemu-action');
    const platform = (deployJob.steps ?? []).find((step) => step.id === 'platform');

    expect(buildx?.with).toEqual({ driver: 'docker' });
    expect(buildx?.if).toBeUndefined();
    expect(qemu?.if).toBe("steps.platform.outputs.needs-emulation == 'true'");
    expect(qemu?.with).toEqual({ platforms: '${{ steps.platform.outputs.target }}' });
    expect(platform?.run).toContain('RUNNER_ARCH');
    expect(deployJob.env?.EXECUTOR_ARCHITECTURE).toBe("${{ vars.EXECUTOR_ARCHITECTURE || 'x86_64' }}");
  });

  it('deploys the main stack without approval prompts, after credentials and Docker are ready', () => {
    const deployIndex = stepIndex(deployJob, (step) => /\bcdk deploy\b/.test(step.run ?? ''));
    const command = deployJob.steps![deployIndex].run!;

    // One named stack (app-wiring.test.ts checks the app has it), never --all,
    // so the deploy role stack is never redeployed from CI.
    expect(command).toMatch(
      /^npx cdk deploy [A-Za-z][\w-]* --require-approval never --outputs-file cdk-outputs\.json --context "architecture=\$EXECUTOR_ARCHITECTURE" --context "permissionsBoundaryPolicyName=\$PERMISSIONS_BOUNDARY_POLICY_NAME"$/,
    );
    expect(deployJob.env?.PERMISSIONS_BOUNDARY_POLICY_NAME).toBe('${{ vars.AWS_PERMISSIONS_BOUNDARY_POLICY_NAME }}');
    for (const action of ['aws-actions/configure-aws-credentials', 'docker/setup-buildx-action', 'actions/setup-node']) {
      expect(stepIndex(deployJob, (step) => step.uses?.startsWith(`${action}@`) ?? false)).toBeLessThan(deployIndex);
    }
  });

  it('deploys with Node.js 22, the runtime of the functions it deploys', () => {
    expect(stepUsing(deployJob, 'actions/setup-node')?.with).toEqual({ 'node-version': 22, cache: 'npm' });
  });

  it('prints the stack outputs into the job summary', () => {
    const summaryIndex = stepIndex(deployJob, (step) => (step.run ?? '').includes('$GITHUB_STEP_SUMMARY'));
    const summary = deployJob.steps![summaryIndex];

    expect(summaryIndex).toBeGreaterThan(stepIndex(deployJob, (step) => /\bcdk deploy\b/.test(step.run ?? '')));
    expect(summary.run).toContain('cdk-outputs.json');
    expect(summary.if).toBe("always() && hashFiles('cdk-outputs.json') != ''");
  });

  it('stops with a sentence naming the repository variables when they are not set', () => {
    const check = deployJob.steps![0];

    expect(check.run).toContain('AWS_DEPLOY_ROLE_ARN');
    expect(check.run).toContain('AWS_REGION');
    expect(check.run).toMatch(/::error title=[^:]+::Set the repository variable/);
    expect(deployJob.env).toMatchObject({ AWS_DEPLOY_ROLE_ARN: '${{ vars.AWS_DEPLOY_ROLE_ARN }}', DEPLOY_REGION: '${{ vars.AWS_REGION }}' });
  });
});
