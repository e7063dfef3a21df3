import { expect } from 'chai';
import { chooseLogFormat, humanLine } from '../../server/logFormat.js';
import { GgError } from '../../server/errors.js';

describe('the log format (logFormat)', () => {
  it('is human on a terminal and JSON otherwise, unless GREENGATE_LOG_FORMAT says which', () => {
    expect(chooseLogFormat(undefined, true)).to.equal('human');
    expect(chooseLogFormat('', false)).to.equal('json');
    expect(chooseLogFormat('json', true)).to.equal('json');
    expect(chooseLogFormat('human', false)).to.equal('human');
    expect(() => chooseLogFormat('pretty', true)).to.throw(GgError, 'GREENGATE_LOG_FORMAT is "json" or "human"');
  });

  it('prints a pino line as time, level, name, message and its fields; other text unchanged', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5).getTime();
    const line = JSON.stringify({ level: 40, time, pid: 1, hostname: 'h', name: 'greengate', msg: 'runner lost', runner: 'r-1',
      reason: 'no heartbeat for 30 s', builds: [1, 2], err: { type: 'Error', message: 'gone' } });
    expect(humanLine(line)).to.equal('03:04:05 WARN  greengate: runner lost  runner=r-1 reason="no heartbeat for 30 s" builds=[1,2] err="Error: gone"\n');
    expect(humanLine('not json')).to.equal('not json\n');
    expect(humanLine('{"no":"level"}')).to.equal('{"no":"level"}\n');
  });
});
