/**
 * The text of each member value of a JSON object, exactly as it stands in
 * `text`, so that the invoker can pass the executor's own encoding through
 * (JSON.parse would turn 3.0 into 3 and round integers above 2^53).
 *
 * `text` must be a JSON object that JSON.parse accepted: this only finds
 * where each value starts and ends. A repeated key keeps its last value, as
 * JSON.parse does.
 */
export function jsonMemberTexts(text: string): Map<string, string> {
  const members = new Map<string, string>();
  let at = skipSpace(text, text.indexOf('{') + 1);
  while (text[at] !== '}') {
    const keyEnd = stringEnd(text, at);
    const key = JSON.parse(text.slice(at, keyEnd)) as string;
    const start = skipSpace(text, skipSpace(text, keyEnd) + 1);
    const end = valueEnd(text, start);
    members.set(key, text.slice(start, end));
    at = skipSpace(text, end);
    if (text[at] === ',') at = skipSpace(text, at + 1);
  }
  return members;
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && (text[at] === ' ' || text[at] === '\n' || text[at] === '\r' || text[at] === '\t')) at += 1;
  return at;
}

/** The index after the closing quote of the string that opens at `at`. */
function stringEnd(text: string, at: number): number {
  for (let index = at + 1; ; index += 1) {
    if (text[index] === '\\') index += 1;
    else if (text[index] === '"') return index + 1;
  }
}

/** The index after the value that starts at `start`. */
function valueEnd(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return stringEnd(text, start);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let index = start; ; index += 1) {
      const char = text[index];
      if (char === '"') index = stringEnd(text, index) - 1;
      else if (char === '{' || char === '[') depth += 1;
      else if ((char === '}' || char === ']') && (depth -= 1) === 0) return index + 1;
    }
  }
  // A number, true, false or null: it ends where the structure goes on.
  let index = start;
  while (index < text.length && !',}] \n\r\t'.includes(text[index]!)) index += 1;
  return index;
}
