import { inspect } from 'node:util';
import { ConfigError, SEAL_NONCE_BYTES, SealKey, openAnswer, seal, signAnswer } from '../../contract';
import { loadFixture } from './fixtures';

interface SealVectors {
  readonly secret: string;
  readonly secrets: readonly { readonly secret: string; readonly accepted: boolean; readonly why: string }[];
  readonly requests: readonly { readonly name: string; readonly nonce: string; readonly event: string; readonly sealed: Record<string, string> }[];
  readonly answers: readonly { readonly name: string; readonly nonce: string; readonly response: string; readonly payload: string }[];
  readonly tamperedAnswers: readonly { readonly name: string; readonly nonce: string; readonly payload: string }[];
}

/*
 * contract/seal-vectors.json comes from the Python reference
 * (runtime-image/executor/seal.py), which runtime-image/tests/test_seal.py
 * holds to the same file: what the invoker seals the executor opens, and
 * what the executor signs the invoker opens.
 */
const vectors = loadFixture<SealVectors>('seal-vectors.json');
const key = new SealKey(vectors.secret);
const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
const nonceOf = (base64: string): Buffer => Buffer.from(base64, 'base64');

describe('contract/seal-vectors.json against contract/seal.ts', () => {
  it.each(vectors.requests.map((vector) => [vector.name, vector] as const))('%s: seals to the reference bytes', (_name, vector) => {
    const sealed = seal(vector.event, key, nonceOf(vector.nonce));
    expect(JSON.parse(sealed.body)).toEqual(vector.sealed);
    expect(sealed.nonce).toEqual(nonceOf(vector.nonce));
  });

  it.each(vectors.answers.map((vector) => [vector.name, vector] as const))('%s: opens to the exact response bytes, and signs to the same envelope', (_name, vector) => {
    expect(openAnswer(bytes(vector.payload), nonceOf(vector.nonce), key)?.toString('utf8')).toBe(vector.response);
    expect(signAnswer(bytes(vector.response), nonceOf(vector.nonce), key).toString('utf8')).toBe(vector.payload);
  });

  it.each(vectors.tamperedAnswers.map((vector) => [vector.name, vector] as const))('%s: does not open', (_name, vector) => {
    expect(openAnswer(bytes(vector.payload), nonceOf(vector.nonce), key)).toBeUndefined();
  });

  it.each(vectors.secrets.map((vector) => [vector.why, vector] as const))('a secret of %s: accepted or refused as the executor decides', (_why, vector) => {
    const make = (): SealKey => new SealKey(vector.secret);
    if (vector.accepted) expect(make).not.toThrow();
    else expect(make).toThrow(ConfigError);
  });
});

describe('seal', () => {
  it('uses a fresh random nonce for every request', () => {
    const first = seal('{"script":"pass"}', key);
    const second = seal('{"script":"pass"}', key);
    expect(first.nonce).toHaveLength(SEAL_NONCE_BYTES);
    expect(first.nonce.equals(second.nonce)).toBe(false);
    expect(first.body).not.toBe(second.body);
  });

  it('does not show the script in the sealed body', () => {
    expect(seal('{"script":"print(\'needle-4711\')"}', key).body).not.toContain('needle-4711');
  });
});

describe('SealKey', () => {
  it('refuses a short secret with a sentence naming the setting, without the value', () => {
    const short = 'short-secret-value';
    expect(() => new SealKey(short)).toThrow(
      new ConfigError(
        'EXECUTOR_SEAL_KEY must be at least 32 characters, but it has 18; give the invoker and the executor the same long random value (e.g. `openssl rand -hex 32`), or unset it on both.',
      ),
    );
  });

  it('shows neither the secret nor its derived keys when serialized or inspected', () => {
    const secret = 'a secret that must never reach a log line, 64 characters long...';
    const sealKey = new SealKey(secret);
    expect(JSON.stringify({ sealKey })).toBe('{"sealKey":{}}');
    expect(inspect(sealKey, { showHidden: true, depth: 5 })).toBe('SealKey {}');
  });
});
