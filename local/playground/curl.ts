/**
 * "Copy as curl": the same POST /execute the page would send, as one shell
 * command. The token is never copied: when the server needs one, the
 * command reads it from $LOCAL_TOKEN, so the clipboard holds no secret.
 */
interface CurlOptions {
  /** The server's origin, e.g. http://127.0.0.1:3000. */
  readonly origin: string;
  /** The JSON body, exactly as the page would send it. */
  readonly request: Record<string, unknown>;
  readonly tokenRequired: boolean;
}

/** POSIX single quotes: everything literal, a quote itself closed, escaped and reopened. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlCommand(options: CurlOptions): string {
  const lines = [`curl -sS -X POST ${shellQuote(`${options.origin}/execute`)}`, `-H 'Content-Type: application/json'`];
  if (options.tokenRequired) lines.push(`-H "Authorization: Bearer $LOCAL_TOKEN"`);
  lines.push(`--data-binary ${shellQuote(JSON.stringify(options.request))}`);
  return lines.join(' \\\n  ');
}
