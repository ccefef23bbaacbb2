import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError } from './errors';

/**
 * Sealed invocations, the invoker's side (contract/README.md, "Sealed
 * invocations"; the reference is runtime-image/executor/seal.py, and
 * contract/seal-vectors.json holds the cases both must agree on).
 *
 * Why: in a Lambda execution environment everything runs as one uid and the
 * Runtime API answers any process, so a script with native code can take the
 * environment's next invocation and post an answer to it. A sealed request is
 * ciphertext to such a script, and an answer it posts carries no valid tag.
 */
export const SEAL_VERSION = 'v1';
export const SEAL_NONCE_BYTES = 16;
/** The shortest secret the executor accepts (seal.py MIN_SECRET_CHARS), counted in characters as Python counts them. */
export const MIN_SEAL_KEY_CHARS = 32;
export const SEAL_KEY_VARIABLE = 'EXECUTOR_SEAL_KEY';

const LABEL = 'secure-python-executor seal v1 ';
const ANSWER_PREFIX = Buffer.from(`{"sealedResponse":"${SEAL_VERSION}","tag":"`);
const ANSWER_MIDDLE = Buffer.from('","response":');
const ANSWER_END = Buffer.from('}');
/** Standard base64 with its padding, as Python's b64decode(validate=True) requires. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The executor event as the executor Lambda receives it when sealed. */
export interface SealedEvent {
  readonly sealed: typeof SEAL_VERSION;
  readonly nonce: string;
  readonly ciphertext: string;
  readonly mac: string;
}

export interface SealedRequest {
  /** The invocation payload: the {@link SealedEvent} as JSON. */
  readonly body: string;
  /** The answer must be signed over this nonce; see {@link SealKey.openAnswer}. */
  readonly nonce: Buffer;
}

function hmac(key: Buffer, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

interface DerivedKeys {
  readonly encryptKey: Buffer;
  readonly requestKey: Buffer;
  readonly responseKey: Buffer;
}

/**
 * Held here, not on the key object, so that neither JSON.stringify nor a
 * logged configuration object can show them; the secret itself is not kept.
 */
const derivedKeys = new WeakMap<SealKey, DerivedKeys>();

/** The shared secret of the invoker and the executor (EXECUTOR_SEAL_KEY), as the keys derived from it. */
export class SealKey {
  /** Throws {@link ConfigError} for a secret the executor would refuse. */
  constructor(secret: string) {
    const chars = [...secret].length;
    if (chars < MIN_SEAL_KEY_CHARS) {
      throw new ConfigError(
        `${SEAL_KEY_VARIABLE} must be at least ${MIN_SEAL_KEY_CHARS} characters, but it has ${chars}; give the invoker and the executor the same long random value (e.g. \`openssl rand -hex 32\`), or unset it on both.`,
      );
    }
    const master = createHash('sha256').update(secret, 'utf8').digest();
    const derive = (label: string): Buffer => hmac(master, Buffer.from(LABEL + label));
    derivedKeys.set(this, { encryptKey: derive('encrypt'), requestKey: derive('request'), responseKey: derive('response') });
  }
}

/**
 * Encrypts and authenticates one executor event, given as its JSON text
 * (sealed as is, so its numbers and strings reach Python exactly as sent).
 * A fresh random nonce each time: a nonce must never seal two events.
 */
export function seal(eventJson: string, key: SealKey, nonce: Buffer = randomBytes(SEAL_NONCE_BYTES)): SealedRequest {
  const { encryptKey, requestKey } = derivedKeys.get(key)!;
  const plaintext = Buffer.from(eventJson, 'utf8');
  const stream = createHash('shake256', { outputLength: plaintext.length }).update(encryptKey).update(nonce).digest();
  const ciphertext = Buffer.alloc(plaintext.length);
  for (let index = 0; index < plaintext.length; index += 1) ciphertext[index] = plaintext[index]! ^ stream[index]!;
  const mac = hmac(requestKey, Buffer.from(SEAL_VERSION), nonce, ciphertext);
  const event: SealedEvent = {
    sealed: SEAL_VERSION,
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    mac: mac.toString('base64'),
  };
  return { body: JSON.stringify(event), nonce };
}

/**
 * The response bytes when `payload` is exactly
 * `{"sealedResponse":"v1","tag":"<base64>","response":R}` with a tag over
 * this request's nonce and R; undefined for anything else (a plain answer,
 * another request's answer, another key's, or one altered on the way).
 */
export function openAnswer(payload: Uint8Array, nonce: Buffer, key: SealKey): Buffer | undefined {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (!bytes.subarray(0, ANSWER_PREFIX.length).equals(ANSWER_PREFIX) || !bytes.subarray(-ANSWER_END.length).equals(ANSWER_END)) {
    return undefined;
  }
  const tagEnd = bytes.indexOf(ANSWER_MIDDLE, ANSWER_PREFIX.length);
  if (tagEnd < 0) return undefined;
  const tagText = bytes.subarray(ANSWER_PREFIX.length, tagEnd).toString('latin1');
  if (!BASE64.test(tagText)) return undefined;
  const tag = Buffer.from(tagText, 'base64');
  const response = bytes.subarray(tagEnd + ANSWER_MIDDLE.length, bytes.length - ANSWER_END.length);
  const expected = hmac(derivedKeys.get(key)!.responseKey, nonce, response);
  return tag.length === expected.length && timingSafeEqual(tag, expected) ? response : undefined;
}

/** The executor's side (seal.py `Sealer.sign`), for tests and tools written in TypeScript. */
export function signAnswer(response: Uint8Array, nonce: Buffer, key: SealKey): Buffer {
  const tag = hmac(derivedKeys.get(key)!.responseKey, nonce, response).toString('base64');
  return Buffer.concat([ANSWER_PREFIX, Buffer.from(tag), ANSWER_MIDDLE, response, ANSWER_END]);
}
