/**
 * What greengate.yml lets a repository's pipeline file (config/pipeline.ts) use. The pipeline file
 * is pushed code, so it is never trusted with the server's secrets, the runner's environment or a
 * wider sandbox: each of those must be granted here, per builder name, by whoever runs the server.
 *
 *   repositories:
 *     - name: shop
 *       path: /srv/git/shop.git
 *       pipeline: .greengate.yml          # builders come from this file at each commit
 *       pipelineGrants:
 *         test:                           # the pipeline's builder named "test" may use:
 *           secrets: { NPM_TOKEN: { env: NPM_TOKEN } }   # these secrets (the value is read from here)
 *           env: [NPM_CONFIG_CACHE]                      # these runner environment variables
 *           sandbox: { network: false, readOnly: [/opt/sdk], writable: [/srv/out] }
 *
 * A granted `sandbox` lists the paths the pipeline may open (readOnly, writable); `network: false`
 * turns the network off for that builder whatever the pipeline says. Nothing is granted by default.
 */
import path from 'node:path';
import { z } from 'zod';
import { builderEnvSchema, builderSecretsSchema, readSecret, type SecretSource } from './secrets.js';
import { builderSandboxSchema, type SandboxConfig } from './sandbox.js';
import type { Found } from './problems.js';

export interface PipelineGrant { secrets?: Record<string, SecretSource>; env?: string[]; sandbox?: SandboxConfig }

const PIPELINE_PATH_RE = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))(?!.*\/\/)[A-Za-z0-9._/-]{1,255}$/;
/** `pipeline:` of a repository: a file path inside the repository, e.g. .greengate.yml. */
export const pipelinePathSchema = z.string().refine((p) => PIPELINE_PATH_RE.test(p) && !p.endsWith('/') && !/(^|\/)\.git(\/|$)/.test(p),
  'must be a file path inside the repository (letters, digits, ".", "_", "-", "/"; no leading "/", no ".." or ".git"), e.g. .greengate.yml').optional();

const grantSchema = z.strictObject({ secrets: builderSecretsSchema, env: builderEnvSchema, sandbox: builderSandboxSchema });
export const pipelineGrantsSchema = z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  'must be a builder name: a letter or digit, then letters, digits, ".", "_" or "-"'), grantSchema).optional();

/** A repository has `builders:` or `pipeline:`, not both; grants only make sense with a pipeline. */
export function checkPipelineKeys(r: { builders?: unknown[]; pipeline?: string; pipelineGrants?: object }): Found[] {
  if (r.pipeline !== undefined && r.builders !== undefined) {
    return [{ path: ['builders'], message: `a repository with pipeline: ${r.pipeline} takes its builders from that file — remove builders: (grant secrets with pipelineGrants:)` }];
  }
  if (r.pipeline === undefined && r.builders === undefined) {
    return [{ path: ['builders'], message: 'missing required key "builders" — add it, e.g. builders: [{ name: unit, run: npm test }], or read them from the repository with pipeline: .greengate.yml' }];
  }
  if (r.pipeline === undefined && r.pipelineGrants !== undefined) {
    return [{ path: ['pipelineGrants'], message: 'grants what a pipeline file may use, but this repository has no pipeline: — add pipeline: .greengate.yml or remove pipelineGrants' }];
  }
  return [];
}

/** Granted secrets: file paths resolved against greengate.yml's folder (in place) and each checked readable now. */
export function checkGrantSecrets(repos: { pipelineGrants?: Record<string, PipelineGrant> }[], baseDir: string, env: NodeJS.ProcessEnv): Found[] {
  const found: Found[] = [];
  repos.forEach((repo, i) => {
    for (const [builder, grant] of Object.entries(repo.pipelineGrants ?? {})) {
      if (!grant.secrets) continue;
      const resolved: Record<string, SecretSource> = {};
      for (const [name, source] of Object.entries(grant.secrets)) {
        const fixed = 'file' in source ? { file: path.resolve(baseDir, source.file) } : source;
        resolved[name] = fixed;
        try {
          readSecret(name, fixed, env);
        } catch (err) {
          found.push({ path: ['repositories', i, 'pipelineGrants', builder, 'secrets', name], message: (err as Error).message });
        }
      }
      grant.secrets = resolved;
    }
  });
  return found;
}
