/**
 * Only the data directory from greengate.yml: what `greengate backup` needs to find the database.
 * Reads the file's `data:` (`${VAR}` expanded as in config.ts, relative to the file's folder,
 * default ./.greengate) and nothing else, so a service user can back up without the tokens'
 * environment variables (`runnerToken: ${GG_RUNNER_TOKEN}` unset is no error here). Throws
 * ConfigError (GG_CONFIG_INVALID) with the key path `data` when the file or the key is wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { expandValue } from './config.js';
import { ConfigError, locate, toLineColumn, type Found } from './problems.js';

const DEFAULT_DATA = './.greengate';

export function loadDataDir(file: string, env: NodeJS.ProcessEnv = process.env): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ keyPath: '', message: `cannot read the config file: ${(err as Error).message} — pass --config FILE or --data DIR`,
      line: null, column: null }], file);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ConfigError([{ keyPath: '', message: `YAML syntax error: ${e.message} — check indentation and quoting, or pass --data DIR`,
      ...toLineColumn(lines, e.pos[0]) }], file);
  }
  const raw: unknown = doc.get('data');
  const problem = (message: string) => new ConfigError([{ keyPath: 'data', message, ...locate(doc, ['data'], lines) }], file);
  if (raw === undefined || raw === null) return path.resolve(path.dirname(path.resolve(file)), DEFAULT_DATA);
  if (typeof raw !== 'string' || raw === '') throw problem('must be a directory path, e.g. data: /var/lib/greengate — or pass --data DIR');
  const found: Found[] = [];
  const data = expandValue(raw, ['data'], env, path.basename(file), found) as string;
  if (found.length > 0) throw problem(found[0].message);
  if (data === '') throw problem('is empty after expanding its variables — set them, or pass --data DIR');
  return path.resolve(path.dirname(path.resolve(file)), data);
}
