import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53resolver from 'aws-cdk-lib/aws-route53resolver';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ARTIFACT_KEY_PREFIX } from './artifact-store';

export interface IsolatedNetworkProps {
  /** The only bucket the S3 gateway endpoint lets traffic reach. */
  readonly artifactBucket: s3.IBucket;
  /** Retention of the flow log and lookup log groups. */
  readonly logRetention: logs.RetentionDays;
  /** Availability zones with an isolated subnet. @default 2 */
  readonly maxAzs?: number;
}

/** Route 53 Resolver DNS Firewall rule priorities: lower is evaluated first. */
const DNS_ALLOW_RULE_PRIORITY = 100;
const DNS_BLOCK_RULE_PRIORITY = 200;

/**
 * A VPC from which the executor can reach exactly one thing: this stack's
 * artifact bucket, over HTTPS, through an S3 gateway endpoint.
 *
 * - Only PRIVATE_ISOLATED subnets: no internet gateway, no NAT, no public IPs,
 *   so no route leaves the VPC except the endpoint's prefix-list route.
 * - The security group has no ingress and one egress rule: TCP 443 to the S3
 *   prefix list.
 * - DNS would still reach the internet through the Route 53 Resolver (a
 *   classic exfiltration channel), so a DNS Firewall answers NXDOMAIN for every
 *   name except the regional S3 names the artifact upload uses.
 * - The endpoint policy admits only this account's principals writing into this
 *   account's bucket, so other buckets are unreachable even with someone
 *   else's credentials or presigned URLs.
 */
export class IsolatedNetwork extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly s3Endpoint: ec2.GatewayVpcEndpoint;
  public readonly executorSecurityGroup: ec2.ISecurityGroup;
  public readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

  constructor(scope: Construct, id: string, props: IsolatedNetworkProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      createInternetGateway: false,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // The default security group is attached to nothing here; restricting it
      // would add a custom-resource Lambda with an AWS managed policy.
      restrictDefaultSecurityGroup: false,
      enableDnsSupport: true,
      enableDnsHostnames: true,
    });

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', { retention: props.logRetention });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    this.s3Endpoint = this.vpc.addGatewayEndpoint('S3Endpoint', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [this.isolatedSubnets],
    });
    // Adding a statement replaces the default allow-everything policy.
    this.s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OnlyThisStacksArtifactBucket',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [props.artifactBucket.arnForObjects(`${ARTIFACT_KEY_PREFIX}*`)],
        conditions: {
          StringEquals: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID, 'aws:ResourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );

    // Built at the L1 level on purpose: the prefix list id is only known at
    // deploy time, and the L2 SecurityGroup renders a rule with an unresolved
    // peer as a separate AWS::EC2::SecurityGroupEgress resource. That leaves the
    // group's inline egress list empty, and EC2 then adds its default
    // allow-all-outbound rule. An inline list replaces that default.
    const securityGroup = new ec2.CfnSecurityGroup(this, 'ExecutorSecurityGroup', {
      vpcId: this.vpc.vpcId,
      groupDescription: 'Executor: no ingress; egress only HTTPS to the S3 gateway endpoint prefix list',
      securityGroupEgress: [
        {
          ipProtocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          destinationPrefixListId: this.lookUpS3PrefixListId(props.logRetention),
          description: 'HTTPS to S3 through the gateway endpoint (artifact uploads)',
        },
      ],
    });
    this.executorSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(this, 'ExecutorSecurityGroupRef', securityGroup.attrGroupId, {
      allowAllOutbound: false,
      allowAllIpv6Outbound: false,
      // Immutable: nothing else in the app may add rules to this group.
      mutable: false,
    });

    this.addDnsFirewall(stackName);
  }

  /**
   * CloudFormation cannot return the id of the AWS-managed S3 prefix list
   * (`com.amazonaws.<region>.s3`), and a context lookup would need AWS
   * credentials at synth time. A one-call custom resource reads it at deploy
   * time instead; its role may only describe prefix lists and write its own logs.
   */
  private lookUpS3PrefixListId(logRetention: logs.RetentionDays): string {
    const logGroup = new logs.LogGroup(this, 'PrefixListLookupLogGroup', { retention: logRetention });
    const role = new iam.Role(this, 'PrefixListLookupRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reads the id of the regional S3 managed prefix list at deploy time',
      inlinePolicies: {
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });
    const lookup = new cr.AwsCustomResource(this, 'S3PrefixListLookup', {
      onUpdate: {
        service: 'EC2',
        action: 'DescribeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [ec2.GatewayVpcEndpointAwsService.S3.name] }] },
        physicalResourceId: cr.PhysicalResourceId.fromResponse('PrefixLists.0.PrefixListId'),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] }),
      ]),
      role,
      logGroup,
      // The SDK bundled with the Lambda runtime has this call; installing the
      // latest at deploy time would need npm access from the function.
      installLatestAwsSdk: false,
    });
    Validations.of(lookup).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeManagedPrefixLists does not support resource-level permissions; it is read-only and the only action granted.',
    });
    return lookup.getResponseField('PrefixLists.0.PrefixListId');
  }

  private addDnsFirewall(stackName: string): void {
    const allowed = new route53resolver.CfnFirewallDomainList(this, 'DnsAllowedDomains', {
      name: `${stackName}-s3-names`,
      // The presigned POST URL is virtual-hosted style:
      // https://<bucket>.s3.<region>.amazonaws.com/ (checked against the SDK).
      domains: [`s3.${Aws.REGION}.amazonaws.com`, `*.s3.${Aws.REGION}.amazonaws.com`],
    });
    const everything = new route53resolver.CfnFirewallDomainList(this, 'DnsAllDomains', {
      name: `${stackName}-all-names`,
      domains: ['*'],
    });
    const ruleGroup = new route53resolver.CfnFirewallRuleGroup(this, 'DnsFirewallRuleGroup', {
      name: `${stackName}-executor-dns`,
      firewallRules: [
        {
          firewallDomainListId: allowed.attrId,
          priority: DNS_ALLOW_RULE_PRIORITY,
          action: 'ALLOW',
          // S3 answers through CNAMEs to internal names; trusting the chain
          // after an allowed first name keeps uploads working without
          // allow-listing S3's internal host names.
          firewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN',
        },
        {
          firewallDomainListId: everything.attrId,
          priority: DNS_BLOCK_RULE_PRIORITY,
          action: 'BLOCK',
          blockResponse: 'NXDOMAIN',
        },
      ],
    });
    new route53resolver.CfnFirewallRuleGroupAssociation(this, 'DnsFirewallAssociation', {
      name: `${stackName}-executor-dns`,
      firewallRuleGroupId: ruleGroup.attrId,
      vpcId: this.vpc.vpcId,
      // 101 is the smallest value AWS accepts: this group is evaluated before any other.
      priority: 101,
      mutationProtection: 'DISABLED',
    });
    // No FirewallConfig resource: DNS Firewall fails closed by default (a query
    // it cannot evaluate is refused, not resolved unfiltered), which is what we want.
  }
}
