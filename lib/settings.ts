/**
 * Settings as single tables (after piston's config.js): each setting is one
 * record, and its parser, its default, its validation and its row in the
 * README all read that record. lib/config.ts holds the deployment's CDK
 * context settings, local/config.ts the local server's variables.
 */

export type SettingKind = 'integer' | 'boolean' | 'string';

export interface Setting<Key extends string = string> {
  /** The context key or environment variable. */
  readonly key: Key;
  readonly kind: SettingKind;
  /** The default; undefined when it follows from other settings (defaultText then says how) or when unset is meaningful. */
  readonly defaultValue?: number | boolean | string;
  /** The README's default cell when the value alone does not say it (a derived default, or what unset means). */
  readonly defaultText?: string;
  /** Integers: the accepted range, in `unit`. */
  readonly min?: number;
  readonly max?: number;
  readonly unit?: string;
  /** Why the range is what it is; shown in the error sentence. */
  readonly why?: string;
  /** The accepted values, for a setting that is one of a few words or numbers. */
  readonly choices?: readonly (string | number)[];
  /** The README's range cell when min/max/choices do not say it. */
  readonly rangeText?: string;
  /** What the setting does: the README's meaning cell. */
  readonly description: string;
}

/** The README's default cell. */
export function defaultCell(setting: Setting): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  if (setting.defaultValue === undefined || setting.defaultValue === '') return '(none)';
  return String(setting.defaultValue);
}

/** The README's range cell: `256 to 10240 MiB`, `x86_64, arm64`, or the record's own words. */
export function rangeCell(setting: Setting): string {
  if (setting.rangeText !== undefined) return setting.rangeText;
  if (setting.choices !== undefined) return setting.choices.map((choice) => `\`${choice}\``).join(', ');
  if (setting.kind === 'boolean') return '`true`, `false`';
  if (setting.min !== undefined && setting.max !== undefined) {
    return `${setting.min} to ${setting.max}${setting.unit ? ` ${setting.unit}` : ''}`;
  }
  return '';
}

/** Whether an integer lies in the record's range (true when it has none). */
export function inRange(setting: Setting, value: number): boolean {
  return Number.isInteger(value) && (setting.min === undefined || value >= setting.min) && (setting.max === undefined || value <= setting.max);
}

/** ` MiB (why)`: what follows the range in an error sentence. */
export function unitAndWhy(setting: Setting): string {
  return `${setting.unit ? ` ${setting.unit}` : ''}${setting.why ? ` (${setting.why})` : ''}`;
}

/** A markdown table of the settings: name, default, accepted values, meaning. */
export function renderSettingsTable(nameHeader: string, settings: readonly Setting[]): string {
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  const rows = settings.map((setting) =>
    `| \`${setting.key}\` | ${escape(defaultCell(setting))} | ${escape(rangeCell(setting))} | ${escape(setting.description)} |`,
  );
  return [`| ${nameHeader} | default | accepted | meaning |`, '|---|---|---|---|', ...rows].join('\n');
}

/**
 * The README holds each generated table between `<!-- name -->` and
 * `<!-- /name -->`; returns the text between the markers, or undefined.
 */
export function generatedSection(readme: string, name: string): string | undefined {
  const start = readme.indexOf(`<!-- ${name} -->\n`);
  const end = readme.indexOf(`\n<!-- /${name} -->`);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + `<!-- ${name} -->\n`.length, end);
}

/** The README with the section between the markers replaced by `content`. */
export function replaceGeneratedSection(readme: string, name: string, content: string): string {
  const current = generatedSection(readme, name);
  if (current === undefined) throw new Error(`README.md has no <!-- ${name} --> ... <!-- /${name} --> section.`);
  return readme.replace(`<!-- ${name} -->\n${current}\n<!-- /${name} -->`, `<!-- ${name} -->\n${content}\n<!-- /${name} -->`);
}
