/**
 * The gate request: the body of `POST /api/gate/:repo`, written by server/gate/hooks/pre-receive.sh
 * (inside git's pre-receive, where only the hook can see the pushed objects) and parsed here.
 * Both sides belong to this project: change them together and bump GATE_PROTOCOL_VERSION.
 *
 * Body (bytes; Content-Type text/plain; every line ends with "\n"):
 *   greengate-gate 1                 first line: protocol name and version
 *   pusher NAME                      optional, at most once, before the first update
 *   option TEXT                      one per push option, in push order, before the first update
 *   quarantine PATH                  optional, at most once, before the first update: git's quarantine
 *                                      of this push (GIT_QUARANTINE_PATH), where the server reads the
 *                                      pushed objects to check a revert's tree (exactRevert.ts)
 *   update OLD NEW REF               one per refs/heads/* update; OLD/NEW are hex ids (40 or 64)
 *   ID commit SIZE                   `git cat-file --batch` records: the new commits of the update
 *   <SIZE bytes of raw commit>\n       above (`git rev-list NEW ^OLD`, or `NEW --not --all` for a
 *                                      new branch), newest first; none for a deletion
 *   end                              last line; nothing may follow
 *
 * Why no user text can forge a field: every field is one line, and the only user text in a
 * line (pusher, option text) cannot hold "\n" (git refuses push options with a newline; the hook
 * cuts the pusher at its first control character). Commit objects, the only other user text
 * (any bytes: NUL, "\nupdate …", "\nend"), are framed by their byte length, never by a delimiter,
 * and each one must hash to its id (SHA-1 or SHA-256 of "commit SIZE\0" + bytes), so a framing
 * slip cannot pass unnoticed. "X missing" (cat-file's answer when the hook's `git rev-list`
 * failed) and "error …" lines from the hook are errors: the commit list would be incomplete.
 *
 * Caps: a body over MAX_GATE_BODY_BYTES, a commit message over MAX_MESSAGE_BYTES, more than
 * MAX_OPTIONS options → GgError GG_GATE_TOO_LARGE, status 413 (answer: reject, with the reason).
 * More than MAX_COMMITS_PER_REF commits for one ref is not an error: the hook sends at most one
 * more than the cap, `commits` keeps the first MAX_COMMITS_PER_REF and `truncated` is set, so an
 * open tree still takes a big merge while a closed one refuses it (see gate.ts).
 * Anything else malformed → GG_GATE_BAD_REQUEST, status 400. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { GgError } from '../errors.js';

export const GATE_PROTOCOL_VERSION = 1;
export const MAX_GATE_BODY_BYTES = 4 * 1024 * 1024; // 4 MiB: 1000 signed commits fit
export const MAX_COMMITS_PER_REF = 1000; // the hook sends at most 1001 per ref
export const MAX_MESSAGE_BYTES = 64 * 1024; // 64 KiB per commit message
export const MAX_OPTIONS = 100; // push options per push
export const MAX_LINE_BYTES = 8 * 1024; // one pusher/option/update line

export interface GateCommit { sha: string; message: string }
export interface GateUpdate { old: string; new: string; ref: string; commits: GateCommit[]; truncated: boolean }
export interface GateRequest { pusher: string | null; options: string[]; updates: GateUpdate[]; quarantine?: string | null }

/** GG_GATE_BAD_REQUEST (400): malformed, a bug or a stale hook; GG_GATE_TOO_LARGE (413): over a cap. */
function malformed(message: string): GgError {
  return new GgError('GG_GATE_BAD_REQUEST', message);
}
function overCap(message: string): GgError {
  return new GgError('GG_GATE_TOO_LARGE', message);
}

const HEADER = 'greengate-gate ';
const ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const RECORD = /^([0-9a-f]{40}|[0-9a-f]{64}) commit (\d{1,10})$/;
const REF = /^refs\/[^\x00-\x20\x7f]+$/;
const NL = 0x0a;

export function parseGateRequest(body: Buffer): GateRequest {
  if (body.length > MAX_GATE_BODY_BYTES) {
    throw overCap(
      `push too big for the gate: the request is ${body.length} bytes, over the ${MAX_GATE_BODY_BYTES}-byte cap; push fewer commits at a time`
    );
  }
  const reader = new BodyReader(body);
  readVersion(reader.line());
  const req: GateRequest = { pusher: null, options: [], updates: [], quarantine: null };
  const refs = new Set<string>();
  let current: GateUpdate | null = null;
  for (;;) {
    const line = reader.line();
    if (line === 'end') break;
    const record = RECORD.exec(line);
    if (record) {
      if (!current) throw malformed('a commit record comes before any "update" line');
      readCommit(reader, current, record[1], Number(record[2]));
      continue;
    }
    const space = line.indexOf(' ');
    const word = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space + 1);
    if (word === 'update') {
      current = readUpdate(rest, refs);
      req.updates.push(current);
    } else if (word === 'pusher' || word === 'option' || word === 'quarantine') {
      if (current) throw malformed(`"${word}" after the first "update" line`);
      if (word === 'quarantine') {
        if (req.quarantine) throw malformed('more than one "quarantine" line');
        if (rest === '') throw malformed('an empty "quarantine" line');
        req.quarantine = rest;
      } else if (word === 'pusher') {
        if (req.pusher !== null) throw malformed('more than one "pusher" line');
        if (rest === '') throw malformed('an empty "pusher" line');
        req.pusher = rest;
      } else {
        if (req.options.length >= MAX_OPTIONS) {
          throw overCap(`more than ${MAX_OPTIONS} push options`);
        }
        req.options.push(rest);
      }
    } else if (word === 'error') {
      throw malformed(`the hook could not read the push: ${rest}`);
    } else if (rest === 'missing') {
      throw malformed(
        `the hook could not list the new commits${current ? ` of ${current.ref}` : ''} (git rev-list failed)`,
      );
    } else {
      throw malformed(`unknown line "${line.slice(0, 60)}"`);
    }
  }
  if (!reader.atEnd()) throw malformed('data after the "end" line');
  return req;
}

function readVersion(line: string): void {
  if (!line.startsWith(HEADER)) {
    throw malformed(`not a gate request: the first line must be "${HEADER}${GATE_PROTOCOL_VERSION}"`);
  }
  const version = line.slice(HEADER.length);
  if (version !== String(GATE_PROTOCOL_VERSION)) {
    throw malformed(
      `the hook speaks gate protocol ${version.slice(0, 20)}, this server speaks ${GATE_PROTOCOL_VERSION}: reinstall the hooks with \`greengate hook install\``,
    );
  }
}

function readUpdate(rest: string, refs: Set<string>): GateUpdate {
  const [old, neu, ref, extra] = rest.split(' ');
  if (extra !== undefined || ref === undefined || !ID.test(old) || !ID.test(neu) || old.length !== neu.length) {
    throw malformed(`bad "update" line "update ${rest.slice(0, 200)}": want "update OLD NEW REF"`);
  }
  if (!REF.test(ref)) throw malformed(`bad ref name "${ref.slice(0, 200)}"`);
  if (refs.has(ref)) throw malformed(`ref ${ref} updated twice`);
  refs.add(ref);
  return { old, new: neu, ref, commits: [], truncated: false };
}

function readCommit(reader: BodyReader, update: GateUpdate, sha: string, size: number): void {
  if (isZero(update.new)) throw malformed(`commit records for the deletion of ${update.ref}`);
  if (sha.length !== update.new.length) throw malformed(`commit ${sha} has the wrong id length`);
  const raw = reader.bytes(size);
  if (!hashesTo(raw, sha)) {
    throw malformed(`commit record ${sha} does not hash to its id (framing error)`);
  }
  if (update.commits.length >= MAX_COMMITS_PER_REF) {
    update.truncated = true;
    return;
  }
  const split = raw.indexOf('\n\n');
  const message = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 2);
  if (message.length > MAX_MESSAGE_BYTES) {
    throw overCap(
      `commit ${sha.slice(0, 12)} on ${update.ref} has a ${message.length}-byte message, over the ${MAX_MESSAGE_BYTES}-byte cap: shorten it`
    );
  }
  update.commits.push({ sha, message: message.toString('utf8') });
}

function hashesTo(raw: Buffer, sha: string): boolean {
  const hash = createHash(sha.length === 40 ? 'sha1' : 'sha256');
  hash.update(`commit ${raw.length}\0`);
  hash.update(raw);
  return hash.digest('hex') === sha;
}

export function isZero(id: string): boolean {
  return /^0+$/.test(id);
}

class BodyReader {
  private pos = 0;
  constructor(private readonly body: Buffer) {}

  line(): string {
    const end = this.body.indexOf(NL, this.pos);
    if (end < 0) throw malformed('the request ends early (no "end" line): the hook was cut short');
    if (end - this.pos > MAX_LINE_BYTES) throw overCap(`a line over ${MAX_LINE_BYTES} bytes`);
    const text = this.body.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return text;
  }

  bytes(size: number): Buffer {
    if (this.pos + size + 1 > this.body.length || this.body[this.pos + size] !== NL) {
      throw malformed('a commit record is shorter than its size: the hook was cut short');
    }
    const raw = this.body.subarray(this.pos, this.pos + size);
    this.pos += size + 1;
    return raw;
  }

  atEnd(): boolean {
    return this.pos === this.body.length;
  }
}
