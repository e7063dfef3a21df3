import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNotifySecret, secretSchema } from '../../../../server/notify/channels/secret.js';
import { tempHome } from '../../../helpers.js';

describe('a channel secret (notify/channels/secret.ts)', () => {
  it('reads { value }, { env } and { file } now, naming what is missing and the fix', () => {
    const home = tempHome('gg-secret-');
    try {
      writeFileSync(join(home.dir, 's'), 'from-a-file\n');
      expect(readNotifySecret('x', { value: 'v' })).to.equal('v');
      expect(readNotifySecret('x', { env: 'S' }, { S: 'from-env' })).to.equal('from-env');
      expect(readNotifySecret('x', { file: join(home.dir, 's') })).to.equal('from-a-file');
      expect(() => readNotifySecret('notify.webhooks[0].secret', { env: 'S' }, {}))
        .to.throw('notify.webhooks[0].secret: environment variable S is not set on the server — export it before starting greengate');
      expect(() => readNotifySecret('k', { file: join(home.dir, 'missing') })).to.throw(/^k: cannot read .*missing \(ENOENT\) — create it/);
    } finally {
      home.cleanup();
    }
  });

  it('accepts exactly one of env, file, value', () => {
    expect(secretSchema.safeParse({ env: 'GOOD_NAME' }).success).to.equal(true);
    expect(secretSchema.safeParse({ env: '1bad' }).success).to.equal(false);
    expect(secretSchema.safeParse('literally').success).to.equal(false);
    expect(secretSchema.safeParse({ env: 'A', file: '/x' }).success).to.equal(false);
  });
});
