/**
 * The editor's extensions, assembled from the CodeMirror 6 packages the
 * project has (@codemirror/view, state, language, autocomplete). The
 * `codemirror` meta-package in node_modules is the legacy 5.x line, and
 * @codemirror/commands is not installed, so the few editing commands a
 * Python editor needs (newline with indentation, Tab, Shift+Tab) are here.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import {
  bracketMatching,
  foldGutter,
  HighlightStyle,
  getIndentation,
  indentOnInput,
  indentString,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import { EditorSelection, type Extension } from '@codemirror/state';
import { tags } from '@lezer/highlight';
import {
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  type Command,
} from '@codemirror/view';

/** Enter: a new line indented as the language says (after `def f():` one level deeper). */
const newlineAndIndent: Command = (view) => {
  const { state } = view;
  const transaction = state.changeByRange((range) => {
    const indentation = getIndentation(state, range.from);
    const insert = `\n${indentation === null ? /^\s*/.exec(state.doc.lineAt(range.from).text)?.[0] ?? '' : indentString(state, indentation)}`;
    return {
      changes: { from: range.from, to: range.to, insert },
      range: EditorSelection.cursor(range.from + insert.length),
    };
  });
  view.dispatch(transaction, { scrollIntoView: true, userEvent: 'input' });
  return true;
};

/** Tab: indent to the next multiple of the indent unit (spaces, as PEP 8 wants). */
const insertIndent: Command = (view) => {
  const unit = view.state.facet(indentUnit);
  view.dispatch(
    view.state.changeByRange((range) => {
      const column = range.from - view.state.doc.lineAt(range.from).from;
      const insert = ' '.repeat(unit.length - (column % unit.length));
      return { changes: { from: range.from, to: range.to, insert }, range: EditorSelection.cursor(range.from + insert.length) };
    }),
    { userEvent: 'input' },
  );
  return true;
};

/** Shift+Tab: remove one indent unit from the start of each selected line. */
const removeIndent: Command = (view) => {
  const { state } = view;
  const unitLength = state.facet(indentUnit).length;
  const changes: { from: number; to: number }[] = [];
  const seen = new Set<number>();
  for (const range of state.selection.ranges) {
    for (let position = range.from; position <= range.to; ) {
      const line = state.doc.lineAt(position);
      if (!seen.has(line.number)) {
        seen.add(line.number);
        const leading = /^ */.exec(line.text)?.[0].length ?? 0;
        const remove = Math.min(leading, leading % unitLength === 0 ? unitLength : leading % unitLength);
        if (remove > 0) changes.push({ from: line.from, to: line.from + remove });
      }
      position = line.to + 1;
    }
  }
  if (changes.length > 0) view.dispatch({ changes, userEvent: 'delete' });
  return true;
};

/**
 * CodeMirror's default highlight style, with its colours as CSS variables
 * (style.css): the light ones are the default style's, the dark ones are
 * readable on the dark panel, which the default's fixed colours are not.
 */
const highlightStyle = HighlightStyle.define([
  { tag: tags.meta, color: 'var(--syntax-meta)' },
  { tag: tags.keyword, color: 'var(--syntax-keyword)' },
  { tag: [tags.atom, tags.bool, tags.labelName], color: 'var(--syntax-atom)' },
  { tag: [tags.literal, tags.inserted], color: 'var(--syntax-number)' },
  { tag: [tags.string, tags.deleted], color: 'var(--syntax-string)' },
  { tag: [tags.regexp, tags.escape, tags.special(tags.string)], color: 'var(--syntax-escape)' },
  { tag: tags.definition(tags.variableName), color: 'var(--syntax-definition)' },
  { tag: tags.local(tags.variableName), color: 'var(--syntax-local)' },
  { tag: [tags.typeName, tags.namespace], color: 'var(--syntax-type)' },
  { tag: tags.className, color: 'var(--syntax-class)' },
  { tag: [tags.special(tags.variableName), tags.macroName], color: 'var(--syntax-special)' },
  { tag: tags.definition(tags.propertyName), color: 'var(--syntax-property)' },
  { tag: tags.comment, color: 'var(--syntax-comment)' },
  { tag: tags.invalid, color: 'var(--syntax-invalid)' },
]);

export function pythonEditorSetup(): Extension {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    foldGutter(),
    drawSelection(),
    indentUnit.of('    '),
    indentOnInput(),
    syntaxHighlighting(highlightStyle),
    bracketMatching(),
    closeBrackets(),
    autocompletion(),
    highlightActiveLine(),
    keymap.of([
      ...closeBracketsKeymap,
      ...completionKeymap,
      { key: 'Enter', run: newlineAndIndent },
      { key: 'Tab', run: insertIndent, shift: removeIndent },
    ]),
  ];
}
