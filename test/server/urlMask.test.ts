import { expect } from 'chai';
import { maskUrls, maskingStream } from '../../server/urlMask.js';

describe('urlMask', () => {
  it('masks credentials, query values and fragment values, and keeps scheme, host, port and path', () => {
    expect(maskUrls('posting to https://user:pa55@hooks.example.com:8443/ci/x?token=abc&v=2#k=z failed'))
      .to.equal('posting to https://***@hooks.example.com:8443/ci/x?token=***&v=***#k=*** failed');
    expect(maskUrls('http://host/p?bare')).to.equal('http://host/p?***');
    expect(maskUrls('http://tok@host')).to.equal('http://***@host');
  });

  it('leaves text without URLs alone, and masks inside JSON without eating its quotes', () => {
    expect(maskUrls('no url here: a=b?c')).to.equal('no url here: a=b?c');
    const line = JSON.stringify({ msg: 'x', err: 'could not use https://u:p@h/x?t=1', n: 1 });
    expect(JSON.parse(maskUrls(line))).to.deep.equal({ msg: 'x', err: 'could not use https://***@h/x?t=***', n: 1 });
  });

  it('is idempotent', () => {
    const once = maskUrls('https://a:b@c/d?e=f');
    expect(maskUrls(once)).to.equal(once);
  });

  it('masks every line a logger writes through maskingStream', () => {
    const lines: string[] = [];
    const stream = maskingStream({ write: (l: string) => lines.push(l) });
    stream.write('{"url":"https://user:secret@example.com/?token=t0k"}\n');
    expect(lines.join('')).to.not.match(/secret|t0k/);
  });
});
