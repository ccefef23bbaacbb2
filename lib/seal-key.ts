import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { MIN_SEAL_KEY_CHARS } from '../contract/seal';

/** Characters of the generated key: letters and digits, twice what the functions require. */
export const SEAL_KEY_CHARS = 2 * MIN_SEAL_KEY_CHARS;

export interface SealKeySecretProps {
  /**
   * Changing it replaces the secret, and with it the key both functions hold,
   * in one deployment (README, "Sealed invocations").
   * @default 1
   */
  readonly generation?: number;
}

/**
 * The key the invoker seals executor invocations with and the executor opens
 * and signs them with (contract/README.md, "Sealed invocations").
 *
 * Both functions get the value as the environment variable EXECUTOR_SEAL_KEY
 * through a CloudFormation dynamic reference, resolved at deploy time, rather
 * than reading the secret at run time: the executor sits in an isolated VPC
 * whose only route is the S3 gateway endpoint, so it cannot reach Secrets
 * Manager (and an endpoint for it would be one more way out for user code),
 * and the invoker then needs no Secrets Manager permission either. The value
 * is visible to principals who can read the functions' configuration
 * (lambda:GetFunction, lambda:GetFunctionConfiguration): keep those to
 * operators. Inside the executor, no worker ever holds it (seal.py).
 *
 * Rotation means both functions must change at once. A new value in the
 * secret alone reaches neither function until CloudFormation updates it, and
 * then only the one it updates; so the key is never changed in place:
 * a new `generation` makes a new secret, whose new reference changes both
 * functions' environments in the same deployment.
 */
export class SealKeySecret extends Construct {
  public readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: SealKeySecretProps = {}) {
    super(scope, id);
    const generation = props.generation ?? 1;
    this.secret = new secretsmanager.Secret(this, `Generation${generation}`, {
      description: `secure-python-executor: the key invocations of the executor are sealed with (EXECUTOR_SEAL_KEY), generation ${generation}`,
      generateSecretString: { passwordLength: SEAL_KEY_CHARS, excludePunctuation: true, includeSpace: false },
      // Only this stack's two functions use it, and a new deployment makes a new one for both.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Both functions hold the key in their environment, resolved when CloudFormation updates them, so a Secrets Manager rotation would ' +
        'reach neither until a deploy and then possibly only one, failing every request. Rotate by deploying with a new ' +
        '-c sealKeyGeneration, which replaces this secret and updates both functions in the same deployment.',
    });
  }
}
