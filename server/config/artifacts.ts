/**
 * Artifacts in greengate.yml: a builder's `artifacts: [globs]` (picomatch, relative to the
 * workspace; files matching them are uploaded when each of its units ends) and the top-level
 * `artifactLimits: { maxFileBytes, maxBuildBytes }` (defaults 1 GiB per file, 5 GiB per build).
 */
import { z } from 'zod';

export const DEFAULT_MAX_FILE_BYTES = 2 ** 30; // 1 GiB per file
export const DEFAULT_MAX_BUILD_BYTES = 5 * 2 ** 30; // 5 GiB per build
export const MAX_ARTIFACT_GLOBS = 32;

export interface ArtifactLimits { maxFileBytes: number; maxBuildBytes: number }

/** Why an artifact glob cannot work, or null. */
export function checkArtifactGlob(glob: string): string | null {
  if (glob.trim() === '') return 'must not be empty — give a glob such as "dist/**"';
  if (glob.startsWith('/') || /^[A-Za-z]:[\\/]/.test(glob)) {
    return `"${glob}" is absolute; artifact globs match files in the workspace — write it relative, e.g. "${glob.replace(/^(\/+|[A-Za-z]:[\\/]+)/, '')}"`;
  }
  if (glob.split('/').includes('..')) return `"${glob}" leaves the workspace with ".." — write a path inside it`;
  if (glob.split('/').includes('.git')) return `"${glob}" reaches into .git — artifacts are files the build made`;
  if (glob.startsWith('!')) return `"${glob}" is a negation — list the files to keep, e.g. "dist/**"`;
  return null;
}

export const builderArtifactsSchema = z.array(z.string(), { error: 'must be a list of globs, e.g. artifacts: ["dist/**", "*.tgz"]' })
  .max(MAX_ARTIFACT_GLOBS, `must list at most ${MAX_ARTIFACT_GLOBS} globs — combine them, e.g. "dist/**"`)
  .superRefine((globs, ctx) => globs.forEach((glob, i) => {
    const problem = checkArtifactGlob(glob);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [i] });
  })).optional(); // absent: nothing is uploaded

const toNumber = (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
const bytes = (fallback: number) => z.preprocess(toNumber, z.number()
  .int('must be a whole number of bytes from 1 to 1099511627776 (1 TiB)')
  .min(1, 'must be a whole number of bytes from 1 to 1099511627776 (1 TiB)')
  .max(2 ** 40, 'must be a whole number of bytes from 1 to 1099511627776 (1 TiB)')).default(fallback);

export const artifactLimitsSchema = z.strictObject({
  maxFileBytes: bytes(DEFAULT_MAX_FILE_BYTES),
  maxBuildBytes: bytes(DEFAULT_MAX_BUILD_BYTES),
}).optional(); // absent: the defaults
export const ARTIFACT_LIMIT_KEYS = ['maxFileBytes', 'maxBuildBytes'];

/** The limits in force: the configured ones, else the defaults. */
export function artifactLimitsOf(config: { artifactLimits?: Partial<ArtifactLimits> }): ArtifactLimits {
  return {
    maxFileBytes: config.artifactLimits?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    maxBuildBytes: config.artifactLimits?.maxBuildBytes ?? DEFAULT_MAX_BUILD_BYTES,
  };
}
