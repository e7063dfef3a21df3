import { expect } from 'chai';
import { openStore, type Store } from '../../server/store/index.js';
import { PageStore } from '../../server/store/pages.js';
import { readBefore, readFrom, stripAnsi } from '../../server/web/pagesLog.js';

/** A unit whose log is `text`, stored in chunks of at most `chunkChars` characters (never splitting one). */
function storeLog(store: Store, text: string, chunkChars: number): number {
  const repo = store.repos.sync([{ name: 'shop', path: '/nowhere' }]).get('shop')!;
  const build = store.builds.create({ repoId: repo.id, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
    sha: 'a'.repeat(40), baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
  const unit = store.units.create({ buildId: build, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
    avoidRunnerId: null, lostCount: 0, at: 1 });
  const chars = [...text];
  let offset = 0;
  for (let seq = 0, i = 0; i < chars.length; seq++, i += chunkChars) {
    const data = chars.slice(i, i + chunkChars).join('');
    store.logs.append({ unitId: unit, seq, offset, stream: 'out', data, at: 1 });
    offset += Buffer.byteLength(data);
  }
  return unit;
}

describe('log ranges by byte offset (pagesLog)', () => {
  let store: Store;
  let pages: PageStore;
  const lines = Array.from({ length: 500 }, (_, i) => `línea ${i + 1} ✓ ${'é'.repeat(i % 7)} 🚦`);
  const text = lines.join('\n') + '\n';
  const size = Buffer.byteLength(text);

  beforeEach(() => {
    store = openStore(':memory:');
    pages = new PageStore(store.db);
  });
  afterEach(() => store.close());

  it('gives the whole log from 0 with line 1, and nothing past the end', () => {
    const unit = storeLog(store, text, 37);
    const all = readFrom(pages, unit, 0, 1 << 20);
    expect(all).to.include({ from: 0, to: size, line: 1, size });
    expect(all.text).to.equal(text);
    expect(readFrom(pages, unit, size, 1 << 20)).to.include({ from: size, to: size, text: '' });
  });

  it('reads from a byte offset inside a chunk, in whole chunks up to the cap', () => {
    const unit = storeLog(store, text, 50);
    const cut = Buffer.byteLength(lines.slice(0, 100).join('\n') + '\n');
    const r = readFrom(pages, unit, cut, 300);
    expect(r.line).to.equal(101);
    expect(r.text.startsWith(`${lines[100]}\n`)).to.equal(true);
    expect(Buffer.byteLength(r.text)).to.equal(r.to - r.from).and.be.at.least(300);
    expect(Buffer.from(text).subarray(r.from, r.to).toString()).to.equal(r.text);
  });

  it('walks back from the end with "before" to exactly the whole log, every range starting at a line start', () => {
    const unit = storeLog(store, text, 23);
    const parts: string[] = [];
    let before = Number.MAX_SAFE_INTEGER;
    for (let guard = 0; guard < 1000; guard++) {
      const r = readBefore(pages, unit, before, 1024);
      expect(r.text.split('\n')[0]).to.equal(lines[r.line - 1]);
      parts.unshift(r.text);
      if (r.from === 0) break;
      expect(r.from).to.be.lessThan(before);
      before = r.from;
    }
    expect(parts.join('')).to.equal(text);
    expect(parts.length).to.be.greaterThan(10);
  });

  it('strips ANSI colour and cursor sequences for the plain tail', () => {
    expect(stripAnsi('\x1b[1;31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 \x1b[2K')).to.equal('red link ');
  });
});
