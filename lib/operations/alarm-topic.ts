// The SNS topic the alarms notify: encrypted with a key of its own (CloudWatch alarms cannot publish to a topic
// encrypted with the AWS managed key `alias/aws/sns`, whose policy nobody can change to let CloudWatch use it), refusing
// publishes without TLS, and with an email subscription only when an address is given.
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { denyGrantsExceptForAwsServices } from '../key-policy';
import { checkSetting } from '../settings';

export interface AlarmTopicProps {
  /** The alarms that may publish, as a name pattern (`*` wildcards) for the key policy's aws:SourceArn condition. */
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

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the alarm notification topic',
      enableKeyRotation: true,
      // The key protects only notifications in flight; nothing stored needs it once the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch needs the key to put a notification on an encrypted topic (SNS developer guide, "Enable
    // compatibility between event sources from AWS services and encrypted topics"); only for this account's alarms.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: props.alarmNamePattern,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    denyGrantsExceptForAwsServices(this.key);

    this.topic = new sns.Topic(this, 'Topic', {
      masterKey: this.key,
      enforceSSL: true,
      displayName: props.displayName,
    });

    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
  }
}
