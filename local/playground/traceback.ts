/** The last `File "<script>", line N` of a traceback is the line where the script failed. */
export function failingLine(traceback: string | null): number | null {
  if (traceback === null) return null;
  const matches = [...traceback.matchAll(/File "<script>", line (\d+)/g)];
  if (matches.length === 0) return null;
  return Number(matches[matches.length - 1][1]);
}
