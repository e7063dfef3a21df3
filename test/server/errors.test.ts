import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERRORS, GgError, asGgError, errorBody, fail } from '../../server/errors.js';
import { CloseCode, ERRORS as ProtocolErrors } from '../../server/protocol.js';
import { CLOSE_TOO_SLOW } from '../../server/web/live.js';
import { ROOT } from '../helpers.js';

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the error catalogue (server/errors.ts)', () => {
  const serverFiles = sources(join(ROOT, 'server'));

  it('holds every GG_ code written anywhere in server/', () => {
    expect(serverFiles.length).to.be.greaterThan(30);
    const missing: string[] = [];
    let seen = 0;
    for (const file of serverFiles) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"`](GG_[A-Z0-9_]+)['"`]/g)) {
        seen++;
        if (!(m[1] in ERRORS)) missing.push(`${relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(seen, 'codes found (the scan works)').to.be.greaterThan(40);
    expect(missing).to.deep.equal([]);
  });

  it('is the only error class of the server: no other class extends Error', () => {
    const classes: string[] = [];
    for (const file of serverFiles) {
      for (const m of readFileSync(file, 'utf8').matchAll(/class (\w+) extends (\w+)/g)) {
        if (m[2] === 'Error' || m[2].endsWith('Error')) classes.push(`${relative(ROOT, file)}: ${m[1]} extends ${m[2]}`);
      }
    }
    expect(classes).to.deep.equal(['server/cli/usage.ts: UsageError extends GgError', 'server/config/problems.ts: ConfigError extends GgError',
      'server/errors.ts: GgError extends Error']);
  });

  it('has runner-side error classes that carry a code', () => {
    const runnerFiles = sources(join(ROOT, 'runner'));
    const classes = runnerFiles.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return [...text.matchAll(/class (\w+) extends Error \{([\s\S]*?)\n\}/g)].map((m) => ({ name: m[1], body: m[2] }));
    });
    expect(classes.map((c) => c.name)).to.have.members(['JUnitError', 'MirrorError', 'PackFetchError', 'SandboxError', 'WorkspaceError']);
    for (const c of classes) {
      const code = /readonly code: ErrorCode = '(GG_[A-Z_]+)'/.exec(c.body);
      expect(code, c.name).to.not.equal(null);
      expect(ERRORS, c.name).to.have.property(code![1]);
    }
  });

  it('holds every GG_ code written anywhere in runner/ too (the runner reads it through protocol.ts)', () => {
    const missing: string[] = [];
    let seen = 0;
    for (const file of sources(join(ROOT, 'runner'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"`](GG_[A-Z0-9_]+)['"`]/g)) {
        seen++;
        if (!(m[1] in ERRORS)) missing.push(`${relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(seen, 'codes found (the scan works)').to.be.greaterThan(5);
    expect(missing).to.deep.equal([]);
    expect(ProtocolErrors, 'protocol.ts re-exports the one catalogue').to.equal(ERRORS);
  });

  it('has no code that nothing uses: each is thrown, closed with or checked somewhere in server/ or runner/', () => {
    const texts = [...serverFiles, ...sources(join(ROOT, 'runner'))].filter((f) => !f.endsWith(join('server', 'errors.ts')))
      .map((f) => readFileSync(f, 'utf8')).join('\n');
    const unused = Object.keys(ERRORS).filter((code) => !new RegExp(`\\b${code}\\b`).test(texts));
    expect(unused).to.deep.equal([]);
  });

  it('is the one definition of close codes: unique, and every close code either side sends derives from it', () => {
    const closes = Object.entries(ERRORS).flatMap(([code, spec]) => ('close' in spec ? [[code, spec.close] as const] : []));
    const seen = new Map<number, string>();
    for (const [code, close] of closes) {
      expect(seen.get(close), `${code} reuses close code ${close}`).to.equal(undefined);
      seen.set(close, code);
    }
    for (const [name, close] of Object.entries(CloseCode)) {
      if (name === 'normal') expect(close).to.equal(1000);
      else expect(seen.has(close), `CloseCode.${name} (${close}) is in the catalogue`).to.equal(true);
    }
    expect(CLOSE_TOO_SLOW).to.equal(ERRORS.GG_LIVE_TOO_SLOW.close);
    // No close code written as a number where a socket is closed or refused.
    const literal: string[] = [];
    for (const file of [...serverFiles, ...sources(join(ROOT, 'runner'))]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:\.close|refuse)\([^,)]*?\b(\d{4})\b/g)) literal.push(`${relative(ROOT, file)}: ${m[0]}`);
    }
    expect(literal).to.deep.equal([]);
  });

  it('has no bare `throw new Error(` in server/ or runner/ outside the programming errors allowed here', () => {
    // Assertions: a caller broke a function's contract. Every other failure throws a catalogued code.
    const allowed = [
      'server/culprit/search.ts: a culprit search needs a blamelist of at least one commit',
      'server/culprit/search.ts: position ${position} is outside',
      'server/immune/scrape.ts: ${url} is not followed',
      'server/immune/verdict.ts: metric ${metric.name}: readings of kind',
    ];
    const found: string[] = [];
    for (const file of [...serverFiles, ...sources(join(ROOT, 'runner'))]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/throw new Error\(\s*[`'"]([^`'"]{0,60})/g)) {
        const where = `${relative(ROOT, file)}: ${m[1]}`;
        if (!allowed.some((a) => where.startsWith(a))) found.push(where);
      }
      for (const m of readFileSync(file, 'utf8').matchAll(/throw new Error\(\s*[^`'"\s]/g)) found.push(`${relative(ROOT, file)}: ${m[0]}`);
    }
    expect(found).to.deep.equal([]);
  });

  it('gives each code an HTTP status, a meaning, and a WebSocket close code only in the allowed range', () => {
    for (const [code, spec] of Object.entries(ERRORS) as [string, { status: number; close?: number; meaning: string }][]) {
      expect(code).to.match(/^GG_[A-Z0-9_]+$/);
      expect(spec.status, code).to.be.within(400, 599);
      expect(spec.meaning.length, code).to.be.greaterThan(10);
      if (spec.close !== undefined) expect(spec.close, code).to.satisfy((c: number) => (c >= 1000 && c <= 1015) || (c >= 4000 && c <= 4999));
    }
  });

  it('makes a GgError take its status and close code from the catalogue', () => {
    const e = new GgError('GG_PROTOCOL_BAD_FRAME', 'frame is not valid JSON');
    expect([e.status, e.closeCode, e.code, e.message]).to.deep.equal([400, 1007, 'GG_PROTOCOL_BAD_FRAME', 'frame is not valid JSON']);
    expect(() => fail('GG_NOT_GATED', 'shop/dev is not gated')).to.throw(GgError, 'shop/dev is not gated').with.property('status', 404);
    expect(errorBody(new GgError('GG_BUILD_DONE', 'build 3 has already finished')))
      .to.deep.equal({ error: { code: 'GG_BUILD_DONE', message: 'build 3 has already finished' } });
  });

  it('turns anything else into GG_INTERNAL without showing its text, keeping it as the cause', () => {
    const bug = new TypeError('cannot read properties of undefined (secret path /srv/x)');
    const e = asGgError(bug);
    expect([e.code, e.status]).to.deep.equal(['GG_INTERNAL', 500]);
    expect(e.message).to.not.contain('secret');
    expect(e.cause).to.equal(bug);
    const same = new GgError('GG_BUSY', 'try again');
    expect(asGgError(same)).to.equal(same);
  });
});
