/**
 * One naming rule for artifacts, in the cloud and locally: an artifact's name
 * is its path under `outputs/`, sub-folders kept (`plots/a.png`). The Python
 * executor builds the names (runtime-image/executor/artifacts.py); the invoker
 * and the local server accept a name only in that form, so an S3 key
 * (`executions/<requestId>/<name>`) and a local URL
 * (`/artifacts/<requestId>/<name>`) name the same file. The shared cases are
 * contract/artifact-names.json.
 */

/** S3 keys are at most 1024 bytes, and `executions/<requestId>/` takes up to 140 of them. */
export const MAX_ARTIFACT_NAME_BYTES = 800;
/** What a file system allows for one folder or file name. */
export const MAX_ARTIFACT_NAME_SEGMENT_BYTES = 255;

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// Control characters would reach log viewers; a backslash reads as a path separator.
// eslint-disable-next-line no-control-regex -- control characters are what it replaces
const REPLACED = /[\u0000-\u001f\u007f\\]/g;

/**
 * The artifact name for a path under `outputs/`, or undefined when it cannot
 * be one (empty, `.` or `..` segments, or too long). Characters the executor
 * replaces are replaced the same way here, so a name the executor sent comes
 * back unchanged.
 */
export function artifactName(path: string): string | undefined {
  const segments = path.replace(UNPAIRED_SURROGATE, '\ufffd').split('/').map((segment) => segment.replace(REPLACED, '_'));
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) return undefined;
  if (segments.some((segment) => Buffer.byteLength(segment, 'utf8') > MAX_ARTIFACT_NAME_SEGMENT_BYTES)) return undefined;
  const name = segments.join('/');
  return Buffer.byteLength(name, 'utf8') > MAX_ARTIFACT_NAME_BYTES ? undefined : name;
}
