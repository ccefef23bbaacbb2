import { CfnResource, IAspect } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { IConstruct } from 'constructs';

/**
 * Acknowledges one cfn-lint rule on one resource, in the resource's own
 * Metadata (cfn-lint reads `Metadata.cfn-lint.config.ignore_checks`), with the
 * reason beside it, so scripts/cfn-lint.sh can fail on every other warning.
 */
function acknowledgeCfnLint(resource: CfnResource, ruleId: string, reason: string): void {
  const existing = (resource.getMetadata('cfn-lint') ?? { config: { ignore_checks: [], ignore_reasons: {} } }) as {
    config: { ignore_checks: string[]; ignore_reasons: Record<string, string> };
  };
  if (!existing.config.ignore_checks.includes(ruleId)) existing.config.ignore_checks.push(ruleId);
  existing.config.ignore_reasons[ruleId] = reason;
  resource.addMetadata('cfn-lint', existing);
}

/**
 * Every Lambda function CDK builds depends on its execution role through
 * DependsOn as well as through the `Role` GetAtt (aws-lambda Function adds the
 * dependency so that policies attached to the role later exist first).
 * cfn-lint reports the DependsOn as redundant (W3005); it is harmless, and
 * CDK offers no way to drop a construct-level dependency.
 */
export class FunctionRoleDependsOnAcknowledgement implements IAspect {
  public visit(node: IConstruct): void {
    if (node instanceof lambda.Function && node.node.defaultChild instanceof CfnResource) {
      acknowledgeCfnLint(
        node.node.defaultChild,
        'W3005',
        'CDK adds DependsOn on the execution role besides the Role GetAtt, so that policies attached to the role later exist before the function; the duplicate ordering is harmless.',
      );
    }
  }
}
