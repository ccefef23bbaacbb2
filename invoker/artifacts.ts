import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { artifactName, type Artifact, type ArtifactUpload, type ExecutorArtifact } from '../contract';
import type { ArtifactDestination } from './config';

/** Time the executor needs after the script's deadline to encode, upload and answer. */
const UPLOAD_MARGIN_SECONDS = 60;

function artifactKeyPrefix(requestId: string): string {
  return `executions/${requestId}/`;
}

/**
 * Signs one S3 presigned POST policy that lets the executor upload this
 * execution's artifacts and nothing else: keys under its own prefix, each at
 * most `maxArtifactBytes`, valid only until shortly after the deadline.
 */
export async function signArtifactUpload(
  s3: S3Client,
  bucket: string,
  requestId: string,
  timeoutMs: number,
  maxArtifactBytes: number,
): Promise<ArtifactUpload> {
  const keyPrefix = artifactKeyPrefix(requestId);
  const signed = await createPresignedPost(s3, {
    Bucket: bucket,
    // The ${filename} suffix makes the policy a `starts-with $key` condition on the prefix.
    Key: `${keyPrefix}\${filename}`,
    Conditions: [
      ['content-length-range', 0, maxArtifactBytes],
      ['starts-with', '$Content-Type', ''],
    ],
    Expires: Math.ceil(timeoutMs / 1000) + UPLOAD_MARGIN_SECONDS,
  });
  // The executor sends key = keyPrefix + name itself; a second key field would be ambiguous.
  const { key: _templateKey, ...fields } = signed.fields;
  return { url: signed.url, fields, keyPrefix };
}

interface ArtifactContext {
  readonly destination: ArtifactDestination;
  readonly requestId: string;
  readonly maxArtifacts: number;
  readonly s3?: S3Client;
}

interface ResolvedArtifacts {
  readonly artifacts: Artifact[];
  /** Entries that could not be used, for the log; the caller never sees why. */
  readonly skipped: string[];
}

function asExecutorArtifact(value: unknown): ExecutorArtifact | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entry = value as Record<string, unknown>;
  if (typeof entry.name !== 'string' || entry.name === '') return undefined;
  return {
    name: entry.name,
    contentType: typeof entry.contentType === 'string' ? entry.contentType : 'application/octet-stream',
    size: typeof entry.size === 'number' && Number.isFinite(entry.size) ? entry.size : 0,
    key: typeof entry.key === 'string' ? entry.key : undefined,
    contentBase64: typeof entry.contentBase64 === 'string' ? entry.contentBase64 : undefined,
  };
}

/**
 * The file an artifact is kept in locally, inside its execution's folder: a
 * digest of its name, so that any name (sub-folders, long segments, names
 * that are also another artifact's folder) maps to one flat file without
 * creating directories from the executor's input. The local server finds the
 * file from the URL's name the same way.
 */
export function storedArtifactFileName(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex');
}

function safeContentType(contentType: string): string {
  return /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[A-Za-z0-9_.+-]+=[A-Za-z0-9_.+"-]+)*$/.test(contentType)
    ? contentType
    : 'application/octet-stream';
}

/** `<base>/<requestId>/<name>` with every segment URL-encoded and the sub-folders kept. */
function localArtifactUrl(baseUrl: string, requestId: string, name: string): string {
  return `${baseUrl}/${encodeURIComponent(requestId)}/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The bytes of one artifact of a response: inline, from the local folder, or
 * through its presigned S3 URL. Undefined when they cannot be had in time or
 * are larger than `maxBytes`; the caller still has the URL.
 */
export async function artifactBytes(destination: ArtifactDestination, requestId: string, artifact: Artifact, maxBytes: number): Promise<Buffer | undefined> {
  if (artifact.size > maxBytes) return undefined;
  if (artifact.contentBase64 !== undefined) return Buffer.from(artifact.contentBase64, 'base64');
  try {
    if (destination.kind === 'local') {
      return await fs.readFile(path.join(destination.dir, requestId, storedArtifactFileName(artifact.name)));
    }
    if (destination.kind === 's3' && artifact.url !== null) {
      const response = await fetch(artifact.url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) return undefined;
      const bytes = Buffer.from(await response.arrayBuffer());
      return bytes.length <= maxBytes ? bytes : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Turns the executor's artifact list into what the caller sees: S3 keys
 * become short-lived GET URLs (only keys under this execution's prefix are
 * signed), inline bytes are written to the local artifact folder and served
 * by URL, or stay inline when they have no destination.
 */
export async function resolveArtifacts(raw: unknown, context: ArtifactContext): Promise<ResolvedArtifacts> {
  const artifacts: Artifact[] = [];
  const skipped: string[] = [];
  if (!Array.isArray(raw)) return { artifacts, skipped };
  const taken = new Set<string>();
  const prefix = artifactKeyPrefix(context.requestId);

  for (const value of raw.slice(0, context.maxArtifacts)) {
    const entry = asExecutorArtifact(value);
    if (entry === undefined) {
      skipped.push('entry without a name');
      continue;
    }
    // The executor sends names in their final form; anything else (a path
    // escape, a name another host would spell differently) is not served.
    const name = artifactName(entry.name);
    if (name !== entry.name) {
      skipped.push(`${entry.name.slice(0, 200)}: not an artifact name`);
      continue;
    }
    if (taken.has(name)) {
      skipped.push(`${name}: duplicate name`);
      continue;
    }
    taken.add(name);
    const contentType = safeContentType(entry.contentType);

    if (entry.key !== undefined) {
      const { destination } = context;
      if (destination.kind !== 's3' || context.s3 === undefined) {
        skipped.push(`${name}: S3 key without an S3 destination`);
        continue;
      }
      // Signing a key other than this execution's own name for the file would hand out other executions' files.
      if (entry.key !== `${prefix}${name}`) {
        skipped.push(`${name}: key is not ${prefix}<name>`);
        continue;
      }
      const url = await getSignedUrl(context.s3, new GetObjectCommand({ Bucket: destination.bucket, Key: entry.key }), {
        expiresIn: destination.urlExpirySeconds,
      });
      artifacts.push({ name, contentType, size: entry.size, url });
      continue;
    }

    if (entry.contentBase64 !== undefined) {
      const bytes = Buffer.from(entry.contentBase64, 'base64');
      if (context.destination.kind === 'local') {
        const dir = path.join(context.destination.dir, context.requestId);
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        // 'wx': never follow or replace something that is already there.
        await fs.writeFile(path.join(dir, storedArtifactFileName(name)), bytes, { flag: 'wx', mode: 0o600 });
        artifacts.push({ name, contentType, size: bytes.length, url: localArtifactUrl(context.destination.baseUrl, context.requestId, name) });
      } else {
        artifacts.push({ name, contentType, size: bytes.length, url: null, contentBase64: entry.contentBase64 });
      }
      continue;
    }
    skipped.push(`${entry.name}: neither key nor contentBase64`);
  }
  if (raw.length > context.maxArtifacts) skipped.push(`${raw.length - context.maxArtifacts} entries over the limit`);
  return { artifacts, skipped };
}
