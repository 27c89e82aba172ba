import { describe, expect, it } from 'vitest';
import { replaceDirectives } from './seaweedfs-install.js';

describe("the SeaweedFS build's wrapper module", () => {
  it("repeats the module's replace directives, single lines and blocks, and nothing else", () => {
    const goMod = [
      'module github.com/seaweedfs/seaweedfs',
      '',
      'go 1.24',
      '',
      'require (',
      '\tgithub.com/a/b v1.0.0',
      ')',
      '',
      'replace github.com/old/one => github.com/new/one v1.2.3',
      '',
      'replace (',
      '\tgithub.com/old/two => github.com/new/two v0.1.0',
      '\tgithub.com/old/three v1.0.0 => ./local/three',
      ')',
      '',
      '// replace github.com/commented => nothing',
    ].join('\n');
    expect(replaceDirectives(goMod)).toBe(
      [
        'replace github.com/old/one => github.com/new/one v1.2.3',
        'replace (',
        '\tgithub.com/old/two => github.com/new/two v0.1.0',
        '\tgithub.com/old/three v1.0.0 => ./local/three',
        ')',
      ].join('\n'),
    );
  });
});
