/**
 * The editor's text, input and timeout kept in localStorage, so a reload
 * (or a closed tab) does not lose a script. Scripts stay on this machine;
 * a draft that cannot be read is ignored rather than breaking the page.
 */
interface Draft {
  readonly exampleId: string;
  readonly script: string;
  readonly input: string;
  readonly timeout: string;
}

const DRAFT_KEY = 'secure-python-executor.draft';

export function loadDraft(): Draft | undefined {
  try {
    const stored = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? 'null') as Partial<Draft> | null;
    if (stored === null || typeof stored !== 'object') return undefined;
    const { exampleId, script, input, timeout } = stored;
    if (typeof exampleId !== 'string' || typeof script !== 'string' || typeof input !== 'string' || typeof timeout !== 'string') return undefined;
    return { exampleId, script, input, timeout };
  } catch {
    return undefined;
  }
}

export function saveDraft(draft: Draft): void {
  try {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    // Storage full or disabled (private mode): the page works, only without keeping the draft.
  }
}
