import { expect } from 'chai';
import { LogStreamer } from '../../runner/logStreamer.js';
import { REDACTED, type LogMessage } from '../../server/protocol.js';

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
});
