import { expect } from 'chai';
import { PASSED_THROUGH, TOKEN_VARIABLES, buildUnitEnv, redactedValues } from '../../runner/environment.js';
import type { AssignMessage } from '../../server/protocol.js';

function assign(builder: Partial<AssignMessage['builder']> = {}, fields: Partial<AssignMessage> = {}): AssignMessage {
  return {
    type: 'assign', unit: 7, build: 3, repo: { name: 'shop', url: 'http://ci.test/git/shop.git' }, ref: 'refs/heads/main', branch: 'main',
    sha: 'a'.repeat(40), files: [], attempt: 2,
    builder: { name: 'unit', setup: null, run: 'npm test', junit: null, timeout: 600, cache: null, setupOnHit: null, ...builder }, ...fields,
  };
}

const RUNNER_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin', HOME: '/home/runner', LANG: 'C.UTF-8', TZ: 'UTC', TMPDIR: '/tmp/r',
  GREENGATE_RUNNER_TOKEN: 'runner-token-value', GREENGATE_ADMIN_TOKEN: 'admin-token-value',
  AWS_SECRET_ACCESS_KEY: 'cloud-secret', NPM_CONFIG_REGISTRY: 'https://registry.example.com', GREENGATE_SERVER: 'http://ci.test',
};

describe('runner/environment: what a unit sees', () => {
  it('passes the allowlist and greengate\'s build variables, nothing else of the runner\'s environment', () => {
    const env = buildUnitEnv(assign(), 'r1', RUNNER_ENV);
    for (const name of PASSED_THROUGH) expect(env[name], name).to.equal(RUNNER_ENV[name]);
    expect(env).to.include({ CI: 'true', GREENGATE: 'true', GREENGATE_BUILD: '3', GREENGATE_COMMIT: 'a'.repeat(40), GREENGATE_BRANCH: 'main',
      GREENGATE_REF: 'refs/heads/main', GREENGATE_UNIT: '7', GREENGATE_ATTEMPT: '2', GREENGATE_RUNNER: 'r1' });
    expect(env.GREENGATE_NODE_TEST_REPORTER).to.match(/nodeTestReporter\.js$/);
    expect(Object.keys(env)).to.not.include.members(['AWS_SECRET_ACCESS_KEY', 'NPM_CONFIG_REGISTRY', 'GREENGATE_SERVER', ...TOKEN_VARIABLES]);
    expect(JSON.stringify(env)).not.to.contain('runner-token-value').and.not.to.contain('cloud-secret');
  });

  it('adds the names the builder lists in env:, but never a GREENGATE* or token variable even when listed', () => {
    const env = buildUnitEnv(assign({ env: ['NPM_CONFIG_REGISTRY', 'GREENGATE_RUNNER_TOKEN', 'greengate_admin_token', 'GREENGATE_SERVER', 'NOT_SET'] }), 'r1', RUNNER_ENV);
    expect(env.NPM_CONFIG_REGISTRY).to.equal('https://registry.example.com');
    expect(env).not.to.have.any.keys('GREENGATE_RUNNER_TOKEN', 'GREENGATE_ADMIN_TOKEN', 'GREENGATE_SERVER', 'NOT_SET');
  });

  it('adds the builder\'s secrets and the unit\'s own token; a secret cannot override greengate\'s variables', () => {
    const unitToken = 'f'.repeat(64);
    const env = buildUnitEnv(assign({ secrets: { DEPLOY_KEY: 'deploy-secret', GREENGATE_COMMIT: 'forged' } }, { unitToken }), 'r1', RUNNER_ENV);
    expect(env).to.include({ DEPLOY_KEY: 'deploy-secret', GREENGATE_UNIT_TOKEN: unitToken, GREENGATE_COMMIT: 'a'.repeat(40) });
    expect(buildUnitEnv(assign(), 'r1', RUNNER_ENV)).not.to.have.key('GREENGATE_UNIT_TOKEN');
  });

  it('sets the build\'s params, which never override greengate\'s variables, the allowlist, env: names or secrets', () => {
    const env = buildUnitEnv(assign({ env: ['NPM_CONFIG_REGISTRY'], secrets: { DEPLOY_KEY: 'deploy-secret' },
      params: { TARGET: 'production', GREENGATE_COMMIT: 'forged', PATH: '/evil', CI: 'false', NPM_CONFIG_REGISTRY: 'evil', DEPLOY_KEY: 'evil' } }), 'r1', RUNNER_ENV);
    expect(env).to.include({ TARGET: 'production', GREENGATE_COMMIT: 'a'.repeat(40), PATH: '/usr/bin:/bin', CI: 'true',
      NPM_CONFIG_REGISTRY: 'https://registry.example.com', DEPLOY_KEY: 'deploy-secret' });
  });

  it('redacts the unit\'s secrets, the runner token and every token in the runner\'s environment', () => {
    const values = redactedValues(assign({ secrets: { DEPLOY_KEY: 'deploy-secret' } }), 'token-from-file', RUNNER_ENV);
    expect(values).to.have.members(['deploy-secret', 'token-from-file', 'runner-token-value', 'admin-token-value']);
  });

  it('sets a matrix step\'s variables, but never over greengate\'s own', () => {
    const env = buildUnitEnv(assign({ vars: { NODE: '22', GREENGATE_BUILD: '99', GREENGATE_RUNNER_TOKEN: 'x' } }), 'r1', RUNNER_ENV);
    expect(env).to.include({ NODE: '22', GREENGATE_BUILD: '3' });
    expect(env).not.to.have.property('GREENGATE_RUNNER_TOKEN');
  });
});
