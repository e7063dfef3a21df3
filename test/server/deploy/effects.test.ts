import { expect } from 'chai';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { parseConfig } from '../../../server/config/config.js';
import { startServer } from '../../../server/main.js';
import { MIGRATIONS_DIR, openDatabase } from '../../../server/store/db.js';
import { openStore } from '../../../server/store/index.js';
import { deployAlert } from '../../../server/deploy/effects.js';
import { pollUntil, Repo, RUNNER_TOKEN, tempHome } from '../../helpers.js';

/**
 * A deploy's alert is built from its row (deployAlert) and enqueued into the outbox in the
 * transaction that rolls it back or holds it; migration 021 dropped deploys.alert_state and
 * carried the alerts still pending into deploy_alerts_carried, which the orchestrator enqueues
 * once at start-up. The database before 021 is made by the real migrations 001–020.
 */
describe('deploy alerts (deploy/effects.ts) and migration 021', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-effects-'); });
  afterEach(() => home.cleanup());

  /** A database at migration 020 with a deploy whose alert is pending, one already alerted, and a sent webhook delivery. */
  function databaseBefore021(file: string, repoPath: string): void {
    const old = join(home.dir, 'migrations-020');
    mkdirSync(old);
    for (const f of readdirSync(MIGRATIONS_DIR)) if (/^\d{3}_/.test(f) && Number(f.slice(0, 3)) <= 20) copyFileSync(join(MIGRATIONS_DIR, f), join(old, f));
    const db = openDatabase(file, old);
    db.prepare('INSERT INTO repositories (id, name, path) VALUES (1, ?, ?)').run('shop', repoPath);
    const deploy = db.prepare(`INSERT INTO deploys (id, repo_id, branch, sha, state, stage, outcome, commits, reason, revert_state, alert_state, created_at)
      VALUES (?, 1, 'main', ?, ?, 0, ?, ?, ?, 'none', ?, 1)`);
    deploy.run(7, 'a'.repeat(40), 'failed', 'failed', JSON.stringify(['a'.repeat(40)]), 'stage canary: run failed (build 3)', 'pending');
    deploy.run(8, 'b'.repeat(40), 'failed', 'failed', '[]', 'told already', 'done');
    db.prepare(`INSERT INTO deploy_stages (deploy_id, position, name, state) VALUES (7, 0, 'canary', 'failed')`).run();
    db.prepare(`INSERT INTO notifications (id, repo_id, branch, kind, event_key, summary, payload, created_at)
      VALUES (1, 1, 'main', 'tree.closed', 'tree:1', 'shop/main closed', '{"text":"shop/main closed"}', 1)`).run();
    db.prepare(`INSERT INTO notification_deliveries (notification_id, channel, target, delivery_key, state, attempts, next_at, sent_at)
      VALUES (1, 'webhook', 'https://hooks.example.com/x', 'key-1', 'sent', 1, 1, 2)`).run();
    db.close();
  }

  it('021 keeps every delivery, lifts the channel CHECK, drops alert_state and carries the pending alert; start-up enqueues it once', async () => {
    const repo = new Repo(home.dir);
    const data = join(home.dir, 'data');
    databaseBefore021(join(data, 'greengate.db'), repo.bare);
    const store = openStore(join(data, 'greengate.db'));
    try {
      expect(store.notifications.log({ limit: 10 }).map((d) => [d.channel, d.target, d.state, d.attempts])).to.deep.equal([
        ['webhook', 'https://hooks.example.com/x', 'sent', 1]]);
      expect(store.db.prepare('SELECT name FROM pragma_table_info(\'deploys\') WHERE name = \'alert_state\'').all()).to.deep.equal([]);
      expect(store.deploys.carriedAlerts()).to.deep.equal([7]);
      store.notifications.add({ repoId: 1, branch: 'main', kind: 'tree.closed', eventKey: 'tree:2', summary: 's', payload: { text: 's' }, at: 3 },
        [{ channel: 'pager', target: '+4930123456', deliveryKey: 'key-2' }]); // any channel plug-in's name
      expect(store.notifications.log({ limit: 10 }).map((d) => d.channel)).to.deep.equal(['pager', 'webhook']);
      const alert = deployAlert(store, store.deploys.get(7)!, 'http://ci');
      expect(alert.kind).to.equal('deploy.failed');
      expect(alert.payload).to.deep.include({ deploy: 7, repo: 'shop', branch: 'main', sha: 'a'.repeat(40), commits: ['a'.repeat(40)],
        reason: 'stage canary: run failed (build 3)', url: 'http://ci/deploys/7', stages: [{ name: 'canary', state: 'failed', verdict: null }] });
      expect(alert.payload.text).to.equal(`shop/main: deploy 7 of ${'a'.repeat(10)} failed and was rolled back: stage canary: run failed (build 3)\nhttp://ci/deploys/7`);
    } finally {
      store.close();
    }

    const config = parseConfig(stringify({ port: 0, data, runnerToken: RUNNER_TOKEN, baseUrl: 'http://ci',
      notify: { webhooks: [{ url: 'http://127.0.0.1:9/hook', events: ['deploy.failed', 'deploy.rolledBack', 'deploy.held'] }] },
      repositories: [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }] }), { baseDir: home.dir, env: {} });
    const server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
    try {
      const told = await pollUntil(() => {
        const rows = server.store.notifications.log({ limit: 10 }).filter((d) => d.kind.startsWith('deploy.'));
        return rows.length > 0 ? rows : null;
      }, 'the carried alert', 10_000, 50);
      expect(told.map((d) => [d.kind, d.summary, d.target])).to.deep.equal([
        ['deploy.failed', `shop/main: deploy 7 of ${'a'.repeat(10)} failed and was rolled back: stage canary: run failed (build 3)`, 'http://127.0.0.1:9/hook']]);
      expect(server.store.deploys.carriedAlerts()).to.deep.equal([]);
    } finally {
      await server.close();
    }
  });

  it('builds a held deploy\'s alert from its hold', () => {
    const repo = new Repo(home.dir);
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    try {
      store.repos.sync([{ name: 'shop', path: repo.bare }]);
      const repoId = store.repos.byName('shop')!.id;
      const build = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'c'.repeat(40),
        baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
      const id = store.deploys.request(repoId, 'main', 'c'.repeat(40), build, ['canary'], 1);
      store.deploys.start(id, null, ['c'.repeat(40)], 2);
      store.deploys.setState(id, 'watching', 0);
      expect(store.deploys.hold(id, 'stage canary: inconclusive: no data', 3)).to.equal(true);
      const alert = deployAlert(store, store.deploys.get(id)!, 'http://ci');
      expect(alert.kind).to.equal('deploy.held');
      expect(alert.payload).to.deep.include({ deploy: id, repo: 'shop', branch: 'main', reason: 'stage canary: inconclusive: no data', url: `http://ci/deploys/${id}` });
      expect(alert.payload.text).to.match(/is held: stage canary: inconclusive: no data — greengate deploy resume watches it again/);
    } finally {
      store.close();
    }
  });
});
