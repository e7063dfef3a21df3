/**
 * Tokens for the command line without putting them on it (a command line is visible to every
 * local user in `ps` and /proc): `--token-file FILE` / `--admin-token-file FILE`, or the
 * environment. `--token` / `--admin-token` stay accepted for old scripts, with a warning.
 */
import { readFileSync, statSync } from 'node:fs';

export class TokenFileError extends Error {
  readonly code = 'GG_USAGE';
}

/** The token in `file` (surrounding whitespace dropped); warns when others may read the file. */
export function readTokenFile(file: string, flag: string, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenFileError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
      'give a file holding the token, readable by this user');
  }
  const token = text.trim();
  if (!token) throw new TokenFileError(`${flag} ${file}: the file is empty — write the token into it`);
  if (/\s/.test(token)) throw new TokenFileError(`${flag} ${file}: the file must hold only the token (one line, no spaces)`);
  if ((statSync(file).mode & 0o077) !== 0) warn(`greengate: warning: ${file} may be read by other users — chmod 600 ${file}`);
  return token;
}

/** Chooses a token from (in order) the file flag, the environment, the old command-line flag. */
export function chooseToken(o: { file?: string; fileFlag: string; env?: string; argv?: string; argvFlag: string }, warn?: (line: string) => void): string | undefined {
  const say = warn ?? ((l: string) => process.stderr.write(l + '\n'));
  if (o.argv !== undefined) {
    say(`greengate: warning: ${o.argvFlag} puts the token on the command line, where every local user can read it — use ${o.fileFlag} FILE or the environment`);
  }
  if (o.file !== undefined) return readTokenFile(o.file, o.fileFlag, say);
  return o.env || o.argv;
}
