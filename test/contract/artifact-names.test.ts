import { artifactName, MAX_ARTIFACT_NAME_BYTES, MAX_ARTIFACT_NAME_SEGMENT_BYTES } from '../../contract';
import { loadFixture } from './fixtures';

/*
 * contract/artifact-names.json against the TypeScript rule. The Python
 * executor is tested against the same file (runtime-image/tests/test_artifacts.py),
 * so the cloud's S3 keys and the local server's URLs name an artifact alike.
 */

interface NameFixture {
  readonly maxNameBytes: number;
  readonly maxNameSegmentBytes: number;
  readonly cases: readonly { readonly path?: string; readonly pathBytesHex?: string; readonly name: string | null }[];
  readonly duplicates: { readonly names: readonly string[] };
}

const fixture = loadFixture<NameFixture>('artifact-names.json');

describe('contract/artifact-names.json against the TypeScript rule', () => {
  it('uses the same length limits', () => {
    expect([MAX_ARTIFACT_NAME_BYTES, MAX_ARTIFACT_NAME_SEGMENT_BYTES]).toEqual([fixture.maxNameBytes, fixture.maxNameSegmentBytes]);
  });

  it.each(fixture.cases.filter((entry) => entry.path !== undefined).map((entry) => [entry.path!, entry.name]))('spells the path %j as %j', (path, name) => {
    expect(artifactName(path)).toBe(name ?? undefined);
  });

  it.each([...fixture.cases.flatMap((entry) => (entry.name === null ? [] : [entry.name])), ...fixture.duplicates.names])(
    'accepts the executor\'s name %j unchanged',
    (name) => {
      expect(artifactName(name)).toBe(name);
    },
  );

  it.each(['', '/etc/passwd', 'a//b', '.', '..', 'a/../b', 'a/./b', 'trailing/'])('refuses %j, which no file under outputs/ can be named', (name) => {
    expect(artifactName(name)).toBeUndefined();
  });

  it('replaces an unpaired surrogate as the executor replaces bytes that are not UTF-8', () => {
    expect(artifactName('bad-\ud800.txt')).toBe('bad-\ufffd.txt');
  });
});
