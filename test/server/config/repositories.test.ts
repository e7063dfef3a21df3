import { expect } from 'chai';
import { builderNamed, findBuilder, findRepository, repositoryNamed, unknownRepository } from '../../../server/config/repositories.js';
import { GgError } from '../../../server/errors.js';
import { builder, config } from '../memory.js';

describe('config/repositories: a repository or builder by name', () => {
  const cfg = config({ builders: [builder(), builder({ name: 'lint' })] });

  it('finds a repository and a build\'s builder, or undefined when either left greengate.yml', () => {
    expect(repositoryNamed(cfg, 'shop')!.name).to.equal('shop');
    expect(repositoryNamed(cfg, 'blog')).to.equal(undefined);
    expect(builderNamed(cfg, { repo: 'shop', builder: 'lint' })!.name).to.equal('lint');
    expect(builderNamed(cfg, { repo: 'shop', builder: 'gone' })).to.equal(undefined);
    expect(builderNamed(cfg, { repo: 'blog', builder: 'unit' })).to.equal(undefined);
  });

  it('answers GG_UNKNOWN_REPO naming what is configured, and GG_NO_BUILDER naming the builders', () => {
    expect(findRepository(cfg, 'shop').name).to.equal('shop');
    expect(() => findRepository(cfg, 'blog')).to.throw(GgError, 'unknown repository "blog": it is not in greengate.yml (configured: shop)')
      .with.property('code', 'GG_UNKNOWN_REPO');
    expect(unknownRepository({ repositories: [] }, 'x'.repeat(300)).message).to.equal(`unknown repository "${'x'.repeat(100)}": it is not in greengate.yml (configured: (none))`);
    expect(() => findBuilder(cfg.repositories[0], 'e2e')).to.throw(GgError, 'repository shop has no builder "e2e" in greengate.yml; its builders: unit, lint')
      .with.property('code', 'GG_NO_BUILDER');
  });
});
