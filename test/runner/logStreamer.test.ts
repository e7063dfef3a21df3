import { expect } from 'chai';
import { CHUNK_TARGET_BYTES, LogStreamer, takeChunk } from '../../runner/logStreamer.js';
import { MAX_CHUNK_BYTES, REDACTED, type LogMessage } from '../../server/protocol.js';
import { pollUntil } from '../helpers.js';

function collect(opts: ConstructorParameters<typeof LogStreamer>[2]): { streamer: LogStreamer; sent: LogMessage[]; text(): string } {
  const sent: LogMessage[] = [];
  const streamer = new LogStreamer(7, (m) => { sent.push(m); }, opts);
  return { streamer, sent, text: () => sent.map((m) => m.data).join('') };
}

describe('LogStreamer', () => {
  const SECRET = 'hunter2-is-not-a-password';

  it('never sends a secret split across two writes, even when a flush falls between them', () => {
    const { streamer, sent, text } = collect({ redact: [SECRET] });
    streamer.write('out', Buffer.from(`pass=${SECRET.slice(0, 9)}`));
    streamer.flush(); // as the 20 ms timer would between two writes of the process
    streamer.write('out', Buffer.from(`${SECRET.slice(9)}\n`));
    streamer.end();
    expect(text()).to.equal(`pass=${REDACTED}\n`);
    for (const m of sent) expect(m.data).not.to.contain(SECRET.slice(0, 9));
    expect(sent.map((m) => m.seq)).to.deep.equal(sent.map((_, i) => i));
  });

  it('never sends a secret split between stdout and stderr, or by a newline, or base64-encoded', () => {
    const { streamer, sent, text } = collect({ redact: [SECRET] });
    streamer.write('out', Buffer.from(`a=${SECRET.slice(0, 9)}`));
    streamer.flush();
    streamer.write('err', Buffer.from(`${SECRET.slice(9)}\n`));
    streamer.write('out', Buffer.from(`b=${SECRET.slice(0, 12)}\n`));
    streamer.flush();
    streamer.write('out', Buffer.from(`${SECRET.slice(12)}\nc=${Buffer.from(SECRET).toString('base64')}\n`));
    streamer.end();
    expect(text()).to.equal(`a=${REDACTED}\nb=${REDACTED}\n\nc=${REDACTED}\n`);
    for (const m of sent) expect(m.data).not.to.contain(SECRET.slice(0, 9)).and.not.to.contain(SECRET.slice(12));
    expect(sent.filter((m) => m.stream === 'err').map((m) => m.data)).to.deep.equal(['\n']); // the redaction is labelled as its start: out
  });

  it('keeps a multi-byte character whole across a flush between its bytes', () => {
    const { streamer, text } = collect({});
    const bytes = Buffer.from('é', 'utf8');
    streamer.write('out', bytes.subarray(0, 1));
    streamer.flush();
    streamer.write('out', bytes.subarray(1));
    streamer.end();
    expect(text()).to.equal('é');
  });

  it('stops at maxLogBytes with one marker line, offsets and seqs still whole', () => {
    const { streamer, sent, text } = collect({ maxBytes: 2000 });
    for (let i = 0; i < 100; i++) streamer.write('out', `line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}\n`);
    streamer.write('sys', '[greengate] JUnit: after the cap\n');
    streamer.end();
    const marker = '[greengate] log truncated at 2000 bytes (maxLogBytes)\n';
    expect(text().endsWith(marker)).to.equal(true);
    expect(Buffer.byteLength(text())).to.equal(2000 + Buffer.byteLength(marker));
    expect(text().split(marker)).to.have.length(2);
    expect(text()).not.to.contain('after the cap');
    let offset = 0;
    sent.forEach((m, i) => { expect(m.seq).to.equal(i); expect(m.offset).to.equal(offset); offset += Buffer.byteLength(m.data); });
    expect(streamer.chunks).to.equal(sent.length);
  });

  it('keeps every chunk until it is acked and resends the rest in order after a reconnect', () => {
    const { streamer, sent } = collect({});
    for (const line of ['one\n', 'two\n', 'three\n']) { streamer.write('out', line); streamer.flush(); }
    expect(sent.map((m) => m.seq)).to.deep.equal([0, 1, 2]);
    expect(streamer.allAcked).to.equal(false);
    streamer.ack(1);
    streamer.ack(1); // a repeated ack is harmless
    sent.length = 0;
    streamer.resend();
    expect(sent.map((m) => [m.seq, m.offset, m.data])).to.deep.equal([[0, 0, 'one\n'], [2, 8, 'three\n']]);
    streamer.ack(0);
    streamer.ack(2);
    expect(streamer.allAcked).to.equal(true);
    sent.length = 0;
    streamer.resend();
    expect(sent).to.deep.equal([]);
  });

  it('starts a new chunk when the stream changes, each labelled with its stream', () => {
    const { streamer, sent } = collect({});
    streamer.write('out', 'a');
    streamer.write('out', 'b');
    streamer.write('err', 'c');
    streamer.write('sys', 'd');
    streamer.end();
    expect(sent.map((m) => [m.stream, m.data])).to.deep.equal([['out', 'ab'], ['err', 'c'], ['sys', 'd']]);
  });

  it('sends a large write at once in chunks of at most MAX_CHUNK_BYTES', () => {
    const { streamer, sent, text } = collect({});
    const big = 'é'.repeat(MAX_CHUNK_BYTES); // 2 bytes each: two chunks' worth
    streamer.write('out', big);
    expect(Buffer.byteLength(big)).to.be.greaterThan(CHUNK_TARGET_BYTES);
    expect(sent.length, 'past CHUNK_TARGET_BYTES it flushes without waiting').to.equal(2);
    for (const m of sent) expect(Buffer.byteLength(m.data)).to.be.at.most(MAX_CHUNK_BYTES);
    expect(text()).to.equal(big);
    streamer.stop();
  });

  it('sends a short write by itself soon after (the flush timer)', async () => {
    const { streamer, sent } = collect({});
    streamer.write('out', 'tick\n');
    expect(sent).to.deep.equal([]);
    await pollUntil(() => sent.length === 1, 'the timer to flush', 5_000, 5);
    expect(sent[0].data).to.equal('tick\n');
    streamer.stop();
  });

  it('takes chunks without splitting a character or a surrogate pair', () => {
    expect(takeChunk('abc', 10)).to.equal('abc');
    expect(takeChunk('aéb', 2)).to.equal('a');
    expect(takeChunk('a😀b', 4)).to.equal('a');
    expect(takeChunk('a😀b', 5)).to.equal('a😀');
    expect(takeChunk('😀', 0)).to.equal('');
  });
});
