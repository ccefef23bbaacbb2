import { Template } from 'aws-cdk-lib/assertions';
import { SEAL_KEY_CHARS } from '../../lib/seal-key';
import { logicalIdOf, resourcesOfType, synthesize } from './helpers';

/*
 * Sealed invocations in the stack: one generated key, handed to both
 * functions at deploy time (lib/seal-key.ts says why not at run time).
 */

type Statement = { Action: string | string[]; Resource?: unknown };

function environmentOf(template: Template, pathFragment: string): Record<string, unknown> {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', pathFragment);
  return (template.findResources('AWS::Lambda::Function')[id].Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
}

function dynamicReference(secretId: string): unknown {
  return { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] };
}

function roleStatements(template: Template, pathFragment: string): Statement[] {
  const id = logicalIdOf(template, 'AWS::IAM::Role', pathFragment);
  const role = template.findResources('AWS::IAM::Role')[id] as { Properties: { Policies?: { PolicyDocument: { Statement: Statement[] } }[] } };
  const attached = resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, policy]) => JSON.stringify((policy.Properties as { Roles?: unknown }).Roles).includes(id))
    .flatMap(([, policy]) => (policy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
  return [...(role.Properties.Policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement), ...attached];
}

describe('the seal key', () => {
  const { template } = synthesize();
  const secretId = logicalIdOf(template, 'AWS::SecretsManager::Secret', 'SealKey');

  it('is one generated Secrets Manager secret of 64 letters and digits, deleted with the stack', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: { GenerateSecretString: { PasswordLength: SEAL_KEY_CHARS, ExcludePunctuation: true, IncludeSpace: false } },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
    expect(SEAL_KEY_CHARS).toBe(64);
  });

  it('reaches the executor and the invoker as EXECUTOR_SEAL_KEY, the same dynamic reference resolved at deploy time', () => {
    expect(environmentOf(template, 'ExecutorFunction').EXECUTOR_SEAL_KEY).toEqual(dynamicReference(secretId));
    expect(environmentOf(template, 'InvokerFunction').EXECUTOR_SEAL_KEY).toEqual(dynamicReference(secretId));
  });

  it('grants neither function role any Secrets Manager permission: nothing reads the secret at run time', () => {
    for (const role of ['InvokerFunctionRole', 'ExecutorRole']) {
      const actions = roleStatements(template, role).flatMap((statement) => (typeof statement.Action === 'string' ? [statement.Action] : statement.Action));
      expect(actions.length).toBeGreaterThan(0);
      expect({ role, secretsManager: actions.filter((action) => action.toLowerCase().startsWith('secretsmanager:')) }).toEqual({ role, secretsManager: [] });
    }
  });

  it('is replaced, with both functions\' reference, when sealKeyGeneration changes', () => {
    const rotated = synthesize({ sealKeyGeneration: 2 }).template;
    const rotatedId = logicalIdOf(rotated, 'AWS::SecretsManager::Secret', 'SealKey');
    expect(rotatedId).not.toBe(secretId);
    expect(environmentOf(rotated, 'ExecutorFunction').EXECUTOR_SEAL_KEY).toEqual(dynamicReference(rotatedId));
    expect(environmentOf(rotated, 'InvokerFunction').EXECUTOR_SEAL_KEY).toEqual(dynamicReference(rotatedId));
  });
});
