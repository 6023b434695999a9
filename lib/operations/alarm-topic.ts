// The SNS topic the alarms notify: encrypted with a key of its own (CloudWatch alarms cannot publish to a topic
// encrypted with the AWS managed key `alias/aws/sns`, whose policy nobody can change to let CloudWatch use it), refusing
// publishes without TLS, open to this stack's alarms, and with an email subscription only when an address is given.
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { denyGrantsExceptForAwsServices } from '../key-policy';
import { checkSetting } from '../settings';

export interface AlarmTopicProps {
  /** The alarms that may publish, as a name pattern (`*` wildcards) for the key's and topic's aws:SourceArn condition. */
  readonly alarmNamePattern: string;

  /** Where notifications are emailed; the recipient must confirm the subscription. @default - no subscription */
  readonly email?: string;

  /** The topic's display name, the sender name of its emails. @default - none */
  readonly displayName?: string;
}

export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    if (props.email !== undefined) checkSetting('alarmEmail', props.email);
    const stack = Stack.of(this);

    // CloudWatch acts for an alarm of this account whose name matches: the key and the topic let it in only then,
    // so no other account's alarm (the confused deputy) can use them. Both keys, as AWS's own Modern Data
    // Architecture Accelerator scopes the same grants (grantCloudWatchAlarmsTopicAccess).
    const fromThisStacksAlarms = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: props.alarmNamePattern,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    };
    const cloudWatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the alarm notification topic',
      enableKeyRotation: true,
      // The key protects only notifications in flight; nothing stored needs it once the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch needs the key to put a notification on an encrypted topic (SNS developer guide, "Enable
    // compatibility between event sources from AWS services and encrypted topics").
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromThisStacksAlarms,
      }),
    );
    denyGrantsExceptForAwsServices(this.key);

    this.topic = new sns.Topic(this, 'Topic', {
      masterKey: this.key,
      enforceSSL: true,
      displayName: props.displayName,
    });
    // enforceSSL gives the topic a policy (aws-cdk-lib aws-sns topic-base.ts, addSSLPolicy), and a topic policy
    // replaces SNS's default one; SnsAction adds no permission (aws-cloudwatch-actions sns.ts). Without this Allow the
    // alarm history shows "... is not authorized to perform: SNS:Publish" and nobody is notified (AWS knowledge
    // center, "cloudwatch-receive-sns-for-alarm-trigger").
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: fromThisStacksAlarms,
      }),
    );

    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
  }
}
