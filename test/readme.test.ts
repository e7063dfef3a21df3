import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../server/config/config.js';
import { NOTIFICATION_KINDS } from '../server/config/notify.js';
import { ROOT, tempHome } from './helpers.js';

// README.md against the code: the notification names it gives are the ones `events:` accepts.

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const KIND_PREFIXES = [...new Set(NOTIFICATION_KINDS.map((k) => k.split('.')[0]))];

/** The text of a `## Title` section, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README.md has a "## ${title}" section`).to.be.at.least(0);
  const end = readme.indexOf('\n## ', start + 4);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Every `prefix.name` in backticks whose prefix is a notification kind's (tree., build., deploy., …). */
function kindsNamed(text: string): string[] {
  const re = new RegExp('`((?:' + KIND_PREFIXES.join('|') + ')\\.[A-Za-z]+)`', 'g');
  return [...new Set([...text.matchAll(re)].map((m) => m[1]))];
}

describe('README.md: notification event names', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-readme-'); });
  afterEach(() => home.cleanup());

  function accepts(events: readonly string[]): string[] {
    try {
      parseConfig(`runnerToken: abcdefgh\nnotify:\n  webhooks:\n    - { url: "https://hooks.example.com/ci", events: [${events.join(', ')}] }\n` +
        'repositories:\n  - { name: shop, path: /srv/shop.git, builders: [{ name: unit, run: npm test }] }\n', { baseDir: home.dir, env: {} });
      return [];
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems.map((p) => `${p.keyPath}: ${p.message}`);
    }
  }

  it('lists every kind the code has in the Notifications table, and only those', () => {
    const rows = section('Notifications').split('\n').filter((l) => l.startsWith('| `'));
    const listed = rows.flatMap((row) => kindsNamed(row.split('|')[1]));
    expect([...listed].sort()).to.deep.equal([...NOTIFICATION_KINDS].sort());
  });

  it('names, anywhere, only event kinds that events: accepts', () => {
    const named = kindsNamed(readme);
    expect(named.filter((k) => !(NOTIFICATION_KINDS as readonly string[]).includes(k)), 'names that are not kinds').to.deep.equal([]);
    expect(accepts(named)).to.deep.equal([]);
    expect(accepts(['tree.close']), 'the check can fail').to.have.length(1);
  });

  it('gives an events: example the config accepts', () => {
    const examples = [...readme.matchAll(/^\s*events: \[([^\]]*)\]/gm)].map((m) => m[1].split(',').map((s) => s.trim()));
    expect(examples).to.not.be.empty;
    for (const events of examples) expect(accepts(events), events.join(', ')).to.deep.equal([]);
  });

  it('calls culprit finding\'s and the automatic revert\'s notifications by their kinds, not by their internal names', () => {
    const culprit = section('Culprit finding and the automatic revert');
    expect(culprit).not.to.match(/Notifications \(`culprit-found`/);
    for (const kind of ['culprit.found', 'culprit.notFound', 'revert.made', 'revert.refused']) expect(culprit).to.contain(`\`${kind}\``);
  });
});
