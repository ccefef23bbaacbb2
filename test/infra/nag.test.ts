import * as fs from 'fs';
import * as path from 'path';
import { Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveConfig, SecurePythonExecutorConfigProps } from '../../lib/config';
import { SecurePythonExecutorStack } from '../../lib/secure-python-executor-stack';
import { newApp } from './helpers';

interface ValidationReport {
  pluginReports: { pluginName: string; violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[] }[];
}

/**
 * Synthesizes the app exactly as bin/app.ts wires it (stack plus cdk-nag's
 * AwsSolutionsChecks). Returns every unacknowledged finding, warnings
 * included, as "rule at construct path".
 */
function nagFindings(props: SecurePythonExecutorConfigProps, addToStack?: (stack: SecurePythonExecutorStack) => void): string[] {
  const { app, outdir } = newApp();
  const stack = new SecurePythonExecutorStack(app, 'SecurePythonExecutor', { config: resolveConfig(props) });
  addToStack?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let synthError: Error | undefined;
  try {
    app.synth();
  } catch (error) {
    synthError = error as Error;
  }
  const reportPath = path.join(outdir, 'validation-report.json');
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as ValidationReport;
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((violation) => violation.violatingConstructs.map((c) => `${violation.severity} ${violation.ruleName} at ${c.constructPath}`)),
  );
  if (synthError !== undefined && findings.length === 0) throw synthError;
  return findings;
}

describe('cdk-nag AwsSolutionsChecks', () => {
  it('reports no unacknowledged finding, warnings included, in iam mode (the default)', () => {
    expect(nagFindings({})).toEqual([]);
  });

  it('reports no unacknowledged finding in apiKey mode with WAF, CORS, a name prefix and arm64', () => {
    expect(nagFindings({ authMode: 'apiKey', enableWaf: true, corsAllowOrigin: 'https://app.example.com', namePrefix: 'dev', architecture: 'arm64' })).toEqual([]);
  });

  it('does fail on an unacknowledged finding (the check above is live)', () => {
    const findings = nagFindings({}, (stack) => {
      new s3.Bucket(stack, 'UnsafeBucket');
    });
    expect(findings).toEqual(
      expect.arrayContaining(['error AwsSolutions-S10 at SecurePythonExecutor/UnsafeBucket/Resource', 'error AwsSolutions-S1 at SecurePythonExecutor/UnsafeBucket/Resource']),
    );
  });

  it('reports a secret without rotation, so the seal key passes only by its acknowledgement (lib/seal-key.ts)', () => {
    const findings = nagFindings({}, (stack) => {
      new secretsmanager.Secret(stack, 'UnrotatedSecret');
    });
    expect(findings).toEqual(['error AwsSolutions-SMG4 at SecurePythonExecutor/UnrotatedSecret/Resource']);
  });
});
