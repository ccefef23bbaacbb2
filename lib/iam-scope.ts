import { IAspect, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

/**
 * Every IAM role this app creates lives under this path. The scoped
 * CloudFormation execution policy (scripts/iam/cfn-execution-policy.json) lets
 * a deployment create, change and pass roles under this path only, so a
 * deploy can neither touch a role outside the product nor make a new one
 * elsewhere.
 */
const IAM_ROLE_PATH = '/secure-python-executor/';

/**
 * Puts every role of a stack under {@link IAM_ROLE_PATH}, including the roles
 * CDK constructs create on their own (the VPC flow log role), which a
 * constructor argument could not reach.
 */
export class RolePathAspect implements IAspect {
  public visit(node: IConstruct): void {
    if (node instanceof iam.CfnRole) {
      node.path = IAM_ROLE_PATH;
    }
  }
}

/**
 * Attaches the customer managed policy `policyName` as the permissions
 * boundary of every role in `stack`. The scoped execution policy lets
 * CloudFormation create roles only with that boundary, so even a template that
 * granted a role more could not give it more than the boundary allows.
 */
export function applyPermissionsBoundary(stack: Stack, policyName: string): void {
  iam.PermissionsBoundary.of(stack).apply(iam.ManagedPolicy.fromManagedPolicyName(stack, 'PermissionsBoundary', policyName));
}
