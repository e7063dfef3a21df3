import { expect } from 'chai';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PUSH_ATTEMPTS, REVERT_AUTHOR, isMerge, pushRevert, recordedOn, type RevertPush } from '../../server/gitRevert.js';
import { Repo, git, tempHome } from '../helpers.js';

// Real bare repositories and real hooks; git runs as greengate would run it.

describe('gitRevert: reverts pushed by greengate itself', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let data: string;

  beforeEach(() => {
    home = tempHome('gg-revert-');
    repo = new Repo(home.dir);
    data = join(home.dir, 'data');
    repo.commit({ 'price.txt': '10\n' }, 'initial');
    repo.push();
  });
  afterEach(() => home.cleanup());

  function request(shas: string[], fields: Partial<RevertPush> = {}): RevertPush & { recorded: string[] } {
    const recorded: string[] = [];
    return { data, workName: 'shop-1', bare: repo.bare, branch: 'main', shas, message: 'Revert the price change\n\nReverts: build 7\n',
      record: (sha) => { recorded.push(sha); }, recorded, ...fields };
  }

  /** A hook in the bare repository; its stdin and GL_USERNAME are written to HOME/hook.log. */
  function hook(name: string, body: string): void {
    const file = join(repo.bare, 'hooks', name);
    writeFileSync(file, `#!/bin/sh\necho "pusher=[$GL_USERNAME]" >> '${join(home.dir, 'hook.log')}'\n${body}\n`);
    chmodSync(file, 0o755);
  }

  it('pushes one revert commit authored by greengate, recorded before it is pushed, and removes its clone', async () => {
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.push();
    const req = request([bad]);
    let headWhenRecorded = '';
    req.record = (sha) => { req.recorded.push(sha); headWhenRecorded = git(repo.bare, 'rev-parse', 'main'); };
    const out = await pushRevert(req);
    expect(out.kind).to.equal('pushed');
    const sha = (out as { sha: string }).sha;
    expect(req.recorded).to.deep.equal([sha]);
    expect(headWhenRecorded, 'recorded while the branch still pointed at the bad commit').to.equal(bad);
    expect(git(repo.bare, 'rev-parse', 'main')).to.equal(sha);
    expect(git(repo.bare, 'show', `${sha}:price.txt`)).to.equal('10');
    expect(git(repo.bare, 'log', '-1', '--format=%an <%ae>|%cn <%ce>', sha))
      .to.equal(`${REVERT_AUTHOR.name} <${REVERT_AUTHOR.email}>|${REVERT_AUTHOR.name} <${REVERT_AUTHOR.email}>`);
    expect(git(repo.bare, 'log', '-1', '--format=%B', sha)).to.equal('Revert the price change\n\nReverts: build 7');
    expect(readdirSync(join(data, 'reverts'))).to.deep.equal([]);
  });

  it('reverts several commits in the order given as one commit', async () => {
    const a = repo.commit({ 'a.txt': 'a\n' }, 'add a');
    const b = repo.commit({ 'a.txt': 'a\nb\n' }, 'extend a');
    repo.push();
    const out = await pushRevert(request([b, a]));
    expect(out.kind).to.equal('pushed');
    expect(git(repo.bare, 'rev-list', '--count', 'main')).to.equal('4');
    expect(git(repo.bare, 'ls-tree', '--name-only', 'main')).to.equal('price.txt');
  });

  it('pushes through the hooks as greengate: the caller\'s GIT_* settings and pusher names do not reach git', async () => {
    hook('pre-receive', 'exit 0');
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.push();
    const saved = { GL_USERNAME: process.env.GL_USERNAME, GIT_DIR: process.env.GIT_DIR };
    process.env.GL_USERNAME = 'mallory';
    process.env.GIT_DIR = join(home.dir, 'nowhere.git');
    try {
      expect((await pushRevert(request([bad]))).kind).to.equal('pushed');
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
    expect(readFileSync(join(home.dir, 'hook.log'), 'utf8').trim().split('\n').at(-1)).to.equal('pusher=[]');
  });

  it('answers refused, with the reason, when the gate declines the push (no bypass for the server)', async () => {
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.push();
    hook('pre-receive', 'echo "greengate: main is closed" >&2; exit 1');
    const req = request([bad]);
    const out = await pushRevert(req);
    expect(out.kind).to.equal('refused');
    expect((out as { reason: string }).reason).to.match(/^the push was refused: .*greengate: main is closed/);
    expect(req.recorded, 'recorded before the push was tried').to.have.length(1);
    expect(git(repo.bare, 'rev-parse', 'main')).to.equal(bad);
  });

  it('answers refused when the revert does not apply cleanly', async () => {
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.commit({ 'price.txt': '2000\n' }, 'raise it again');
    repo.push();
    const req = request([bad]);
    const out = await pushRevert(req);
    expect(out.kind).to.equal('refused');
    expect((out as { reason: string }).reason).to.match(new RegExp(`^git revert of ${bad.slice(0, 10)} does not apply cleanly`));
    expect(req.recorded).to.deep.equal([]);
  });

  it('makes the revert again on the new head when another push wins the race', async () => {
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.push();
    const races: number[] = [];
    const req = request([bad], { onRace: (n) => races.push(n) });
    req.record = (sha) => {
      req.recorded.push(sha);
      // A latch, not a timing: the other push lands exactly between the revert commit and its push.
      if (req.recorded.length === 1) { repo.commit({ 'other.txt': 'x\n' }, 'someone else'); repo.push(); }
    };
    const out = await pushRevert(req);
    expect(out.kind).to.equal('pushed');
    expect(races).to.deep.equal([1]);
    expect(req.recorded).to.have.length(2);
    expect(git(repo.bare, 'rev-parse', 'main')).to.equal(req.recorded[1]);
    expect(git(repo.bare, 'log', '--format=%s', '-3', 'main').split('\n')).to.deep.equal(['Revert the price change', 'someone else', 'raise the price']);
  });

  it(`gives up after ${MAX_PUSH_ATTEMPTS} lost races`, async () => {
    const bad = repo.commit({ 'price.txt': '1000\n' }, 'raise the price');
    repo.push();
    const req = request([bad]);
    let n = 0;
    req.record = () => { repo.commit({ 'other.txt': `${++n}\n` }, `push ${n}`); repo.push(); };
    const out = await pushRevert(req);
    expect(out).to.deep.equal({ kind: 'refused', reason: `the branch kept moving: ${MAX_PUSH_ATTEMPTS} pushes lost the race` });
    expect(n).to.equal(MAX_PUSH_ATTEMPTS);
  });

  it('tells a merge commit and which recorded revert is on a head', async () => {
    const base = git(repo.work, 'rev-parse', 'HEAD');
    git(repo.work, 'checkout', '--quiet', '-b', 'side');
    const side = repo.commit({ 'side.txt': 's\n' }, 'side work');
    git(repo.work, 'checkout', '--quiet', 'main');
    repo.commit({ 'main.txt': 'm\n' }, 'main work');
    git(repo.work, 'merge', '--quiet', '--no-edit', 'side');
    const merge = git(repo.work, 'rev-parse', 'HEAD');
    repo.push();
    expect(await isMerge(repo.bare, merge)).to.equal(true);
    expect(await isMerge(repo.bare, base)).to.equal(false);
    expect(await recordedOn(repo.bare, merge, ['f'.repeat(40), side])).to.equal(side);
    expect(await recordedOn(repo.bare, base, [side])).to.equal(null);
    expect(existsSync(join(data, 'reverts'))).to.equal(false);
  });
});
