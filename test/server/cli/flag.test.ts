import { expect } from 'chai';
import { runFlagCommand } from '../../../server/cli/flag.js';

describe('greengate flag kill|restore (the command line, before and without a server)', () => {
  const run = async (action: string, key: string | undefined, opts: Record<string, string | undefined>) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runFlagCommand(action as 'kill', key, { server: undefined, ...opts, out: (l) => out.push(l), err: (l) => err.push(l), timeoutMs: 2_000 });
    return { code, out, err: err.join('\n') };
  };

  it('refuses a command line it cannot run with exit status 2, saying what is missing', async () => {
    expect(await run('kill', undefined, { server: 'http://127.0.0.1:9', repo: 'shop' })).to.deep.include({ code: 2 });
    expect((await run('kill', undefined, { server: 'http://127.0.0.1:9', repo: 'shop' })).err).to.contain('name the flag: greengate flag kill KEY --repo NAME');
    expect((await run('kill', 'new-cart', { server: 'http://127.0.0.1:9' })).err).to.contain('name the repository');
    expect((await run('restore', 'new-cart', { repo: 'shop' })).err).to.contain('--server http://HOST:PORT is required');
    expect((await run('toggle', 'new-cart', { repo: 'shop', server: 'http://127.0.0.1:9' })).err).to.contain('unknown action "toggle": use kill or restore');
  });

  it('answers 1 with one line when the server cannot be reached, the token never printed', async () => {
    const r = await run('kill', 'new-cart', { server: 'http://127.0.0.1:9', repo: 'shop', adminToken: 'secret-admin-token-000' });
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/^greengate flag: cannot reach http:\/\/127\.0\.0\.1:9/);
    expect(r.err).not.to.contain('secret-admin-token-000');
  });
});
