import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import type { BuildResult, BuildRow } from '../../../server/store/builds.js';
import { Outbox } from '../../../server/notify/outbox.js';
import { NotifyTriggers, formatDuration, MAX_LISTED } from '../../../server/notify/triggers.js';
import { Tree } from '../../../server/gate/tree.js';
import { Events } from '../../../server/events.js';
import { tempHome } from '../../helpers.js';

// A real SQLite file, the real outbox and tree; what is told is read back from the store.

const log = pino({ level: 'silent' });
const sha = (c: string) => c.repeat(40);

describe('notify/triggers: what is told, and when', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let config: Readonly<Config>;
  let triggers: NotifyTriggers;
  let tree: Tree;
  let repoId: number;
  let pushed = 0;
  /** What culprit finding knows (the pipeline gives the triggers culpritJson). */
  let culpritOf: (buildId: number) => { sha: string; confirmed: boolean; builds: number[] } | null = () => null;

  beforeEach(() => {
    home = tempHome('gg-triggers-');
    config = parseConfig(`runnerToken: abcdefgh\nnotify:\n  webhooks: [{ url: "https://hooks.example.com/ci" }]\nrepositories:
  - name: shop
    path: /srv/shop.git
    gate: [main]
    builders: [{ name: unit, run: npm test }]\n`, { baseDir: home.dir, env: {} });
    store = openStore(join(home.dir, 'gg.db'));
    repoId = store.repos.sync(config.repositories).get('shop')!.id;
    const outbox = new Outbox(store, config, log);
    culpritOf = () => null;
    triggers = new NotifyTriggers({ store, config, outbox, log, baseUrl: () => 'http://ci.test', waitingReason: () => null,
      culpritOf: (id) => culpritOf(id) });
    tree = new Tree(store, config, new Events(), log, () => 'http://ci.test', (c) => triggers.treeChanged(c));
    pushed = 0;
  });
  afterEach(() => { store.close(); home.cleanup(); });

  /** What was stored, oldest first, with its payload parsed. */
  const told = () => store.notifications.due(Number.MAX_SAFE_INTEGER, 100).sort((a, b) => a.notificationId - b.notificationId).map((d) => {
    const payload = JSON.parse(d.payload) as Record<string, any>;
    return { kind: d.kind, summary: String(payload.text).split('\n')[0], payload };
  });

  /** A finished build of one new commit (by Ada), from a new change (push order) unless it rebuilds `changeId`'s. */
  function build(c: string, result: BuildResult, fields: { branch?: string; kind?: 'branch' | 'try'; changeId?: number } = {}): BuildRow {
    const branch = fields.branch ?? 'main';
    const kind = fields.kind ?? 'branch';
    const ref = kind === 'try' ? `refs/try/${branch}` : `refs/heads/${branch}`;
    const at = Date.now() + ++pushed * 1000;
    store.repos.saveCommits(repoId, [{ sha: sha(c), author: 'Ada', email: `ada+${c}@example.com`, subject: `commit ${c}`, committedAt: at }]);
    const changeId = fields.changeId ?? store.repos.recordChange({ repoId, ref, branch, kind, oldSha: null, newSha: sha(c), source: 'api', pusher: null, at });
    const id = store.builds.create({ repoId, builder: 'unit', ref, branch, kind,
      sha: sha(c), baseSha: null, changeId, pushedAt: at, at, blamelist: [sha(c)] });
    store.builds.finish(id, result, null, at + 500);
    return store.builds.get(id)!;
  }
  const finish = (b: BuildRow) => store.tx(() => triggers.buildFinished(b));

  it('tells build.failed when the branch goes red and build.fixed when it goes green; nothing while it stays one colour', () => {
    finish(build('1', 'passed'));
    expect(told(), 'green after nothing: no change').to.deep.equal([]);
    const red = build('2', 'failed');
    finish(red);
    finish(build('3', 'failed'));
    const green = build('4', 'flaky');
    finish(green);
    const all = told();
    expect(all.map((n) => n.kind)).to.deep.equal(['build.failed', 'build.fixed']);
    expect(all[0].summary).to.equal(`shop/main: unit build ${red.id} failed at ${sha('2').slice(0, 10)} (build ${red.id - 1} was passed)`);
    expect(all[0].payload).to.deep.include({ repo: 'shop', branch: 'main', builder: 'unit', link: `http://ci.test/builds/${red.id}`, failingTests: [] });
    expect(all[0].payload.build).to.deep.equal({ id: red.id, url: `http://ci.test/builds/${red.id}`, builder: 'unit', sha: sha('2'), result: 'failed' });
    expect(all[0].payload.blamelist).to.deep.equal([{ sha: sha('2'), author: 'Ada', email: 'ada+2@example.com', subject: 'commit 2' }]);
    expect(all[0].payload.text).to.contain(`blamelist: ${sha('2').slice(0, 10)} Ada: commit 2`);
    expect(all[1].summary).to.equal(`shop/main: unit build ${green.id} flaky at ${sha('4').slice(0, 10)} — fixed (build ${green.id - 1} failed)`);
    finish(green);
    expect(told(), 'one event per build (its key)').to.have.length(2);
  });

  it('says nothing for try builds, ungated branches or a rebuild of an older commit', () => {
    const older = build('a', 'passed');
    finish(older);
    finish(build('1', 'passed'));
    finish(build('2', 'failed', { kind: 'try', branch: '7' }));
    finish(build('3', 'failed', { branch: 'feature' }));
    finish(build('a', 'failed', { changeId: store.builds.changeOf(older.id)! })); // an admin's rebuild of the older push: not the deciding build
    expect(told()).to.deep.equal([]);
  });

  it('tells a closure by a red build with its builder, blamelist and the culprit finding knows', () => {
    finish(build('1', 'passed'));
    const red = build('2', 'failed');
    culpritOf = (id) => (id === red.id ? { sha: sha('2'), confirmed: true, builds: [red.id] } : null);
    tree.applyRule('shop', 'main');
    const closed = told().find((n) => n.kind === 'tree.closed')!;
    expect(closed.summary).to.equal(`shop/main closed: unit build ${red.id} failed at ${sha('2').slice(0, 10)}`);
    expect(closed.payload).to.deep.include({ repo: 'shop', branch: 'main', state: 'closed', automatic: true, builder: 'unit',
      culprit: { sha: sha('2'), confirmed: true, builds: [red.id] }, link: `http://ci.test/builds/${red.id}` });
    expect(closed.payload.blamelist.map((c: any) => c.sha)).to.deep.equal([sha('2')]);
    expect(closed.payload.text).to.contain(`culprit: ${sha('2').slice(0, 10)}\n`);
  });

  it('tells a lost runner with its running units, but not a connection the same runner replaced nor a runner that stopped', () => {
    const link = { runnerId: 3, name: 'r3', slots: 2, labels: { os: 'linux' } };
    store.tx(() => triggers.runnerLeft(link as never, 'replaced by a new connection', [], 1000));
    store.tx(() => triggers.runnerLeft(link as never, 'it stopped (closed its connection normally)', [11], 1500, true));
    store.tx(() => triggers.runnerLeft(link as never, 'no heartbeat for 30 s', [11, 12], 2000));
    store.tx(() => triggers.runnerLeft(link as never, 'no heartbeat for 30 s', [11, 12], 2000));
    const all = told();
    expect(all.map((n) => n.summary)).to.deep.equal(['runner r3 lost: no heartbeat for 30 s — 2 running unit(s) go back to the queue']);
    expect(all[0].payload).to.deep.include({ reason: 'no heartbeat for 30 s', units: [11, 12], link: 'http://ci.test/runners',
      runner: { id: 3, name: 'r3', slots: 2, labels: { os: 'linux' } } });
  });

  it(`lists at most ${MAX_LISTED} commits in the text and says how many more`, () => {
    finish(build('1', 'passed'));
    const at = Date.now() + 100_000;
    const commits = Array.from({ length: MAX_LISTED + 3 }, (_, i) => (0xa00 + i).toString(16).padEnd(40, '0'));
    store.repos.saveCommits(repoId, commits.map((c, i) => ({ sha: c, author: 'Bob', email: 'bob@example.com', subject: `c${i}`, committedAt: at })));
    const changeId = store.repos.recordChange({ repoId, ref: 'refs/heads/main', branch: 'main', kind: 'branch', oldSha: sha('1'), newSha: commits[0],
      source: 'api', pusher: null, at });
    const id = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: commits[0], baseSha: null,
      changeId, pushedAt: at, at, blamelist: commits });
    store.builds.finish(id, 'failed', null, at + 1);
    finish(store.builds.get(id)!);
    const [failed] = told();
    expect(failed.payload.blamelist).to.have.length(MAX_LISTED + 3);
    expect(failed.payload.text).to.match(/ and 3 more\n/);
  });

  it('formats durations in s, min and h', () => {
    expect([0, 59_499, 60_000, 3_599_000, 3_600_000, 90_061_000].map(formatDuration))
      .to.deep.equal(['0 s', '59 s', '1 min 0 s', '59 min 59 s', '1 h 0 min', '25 h 1 min']);
  });
});
