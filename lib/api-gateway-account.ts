import { Aws, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * The account-level setting API Gateway needs before any stage of any API in
 * the account and region can write access or execution logs: the IAM role it
 * pushes logs to CloudWatch Logs with (AWS::ApiGateway::Account). Without it,
 * creating the stage fails with "CloudWatch Logs role ARN must be set in
 * account settings to enable logging".
 *
 * The setting belongs to the account, not to this stack, so both the role and
 * the setting are retained when the stack is deleted: other APIs in the region
 * may be logging through it by then. CloudFormation's own documentation of the
 * resource advises one AWS::ApiGateway::Account per account and region, and
 * says API Gateway keeps using the role after the stack is deleted.
 */
export class ApiGatewayAccount extends Construct {
  public readonly role: iam.Role;
  public readonly account: apigw.CfnAccount;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.role = new iam.Role(this, 'CloudWatchRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'API Gateway account setting: writes API access and execution logs to CloudWatch Logs in this region',
      inlinePolicies: {
        // The actions of the AWS managed policy AmazonAPIGatewayPushToCloudWatchLogs,
        // limited to this account's log groups in this region.
        pushLogs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'WriteApiLogsInThisRegion',
              actions: [
                'logs:CreateLogGroup',
                'logs:CreateLogStream',
                'logs:DescribeLogGroups',
                'logs:DescribeLogStreams',
                'logs:PutLogEvents',
                'logs:GetLogEvents',
                'logs:FilterLogEvents',
              ],
              resources: [`arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`],
            }),
          ],
        }),
      },
    });
    this.role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]',
      reason:
        'This is the account-wide role API Gateway writes every API\'s access and execution logs with; those log groups (including ' +
        'API-Gateway-Execution-Logs_<api>/<stage>, created by API Gateway itself) are unknown here, so the grant covers log groups of this account and region only.',
    });

    this.account = new apigw.CfnAccount(this, 'Account', { cloudWatchRoleArn: this.role.roleArn });
    this.account.applyRemovalPolicy(RemovalPolicy.RETAIN);
  }
}
