/**
 * Answers that never reached a worker (refused by the server before any
 * Python ran) carry durationMs 0; showing "0 ms in the worker" would claim a
 * run that did not happen.
 */
const REJECTIONS: ReadonlySet<string> = new Set([
  'InvalidRequest',
  'RequestTooLarge',
  'UnsupportedMediaType',
  'NotFound',
  'MethodNotAllowed',
  'AccessDenied',
  'Unauthorized',
  'Forbidden',
  'Throttled',
  'ServiceUnavailable',
]);

/** 422 is the script's own failure (it ran); any other 4xx is a refusal. */
export function reachedWorker(httpStatus: number, errorType: string | null | undefined): boolean {
  if (errorType != null && REJECTIONS.has(errorType)) return false;
  return !(httpStatus >= 400 && httpStatus < 500 && httpStatus !== 422);
}
