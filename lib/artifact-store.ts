import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Key prefix under which every execution's artifacts live (`executions/<requestId>/`). */
export const ARTIFACT_KEY_PREFIX = 'executions/';

export interface ArtifactStoreProps {
  /** Days before an artifact is deleted. @default 1 */
  readonly retentionDays?: number;
}

/**
 * The bucket that holds the files scripts write to `./outputs/`. Objects are
 * written only by the executor through the VPC's S3 gateway endpoint (with a
 * presigned POST the invoker signs) and read by callers through short-lived
 * presigned GET URLs. Nothing in it is ever public, and nothing lives long.
 */
export class ArtifactStore extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactStoreProps = {}) {
    super(scope, id);
    const retentionDays = props.retentionDays ?? 1;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // ACLs off: the bucket owner owns every object, so an uploader cannot
      // grant anyone else access through an object ACL.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [
        {
          id: 'expire-artifacts',
          expiration: Duration.days(retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // Retained on stack deletion: CloudFormation cannot delete a bucket that
      // still holds objects, and an auto-delete custom resource would add a
      // Lambda with broad S3 rights. Objects expire within retentionDays anyway.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Artifacts are short-lived (lifecycle expiry) and written only through presigned POSTs the invoker logs per request; ' +
        'a server access log bucket would outlive the data it describes. Enable CloudTrail S3 data events for an audit trail.',
    });
  }

  /**
   * Denies every object write that does not arrive through `endpoint`, so a
   * leaked presigned POST is useless outside the executor's VPC.
   */
  public requireWritesThrough(endpoint: ec2.IGatewayVpcEndpoint): void {
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyObjectWritesOutsideExecutorEndpoint',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:SourceVpce': endpoint.vpcEndpointId } },
      }),
    );
  }
}
