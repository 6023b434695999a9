// A key policy statement every customer managed key in the stack carries (CT.KMS.PR.3): nobody may create a grant
// on the key except for an AWS resource or as an AWS service. Grants are how one principal hands its key use to
// another outside the key policy; nothing in this stack uses them, and AWS services that do (EBS, RDS, ...) ask for
// them for their own resources, which `kms:GrantIsForAWSResource` lets through.
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';

export function denyGrantsExceptForAwsServices(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyGrantsExceptForAwsServices',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
}
