/**
 * What culprit finding and the automatic revert tell people: the notification's text for each of
 * their kinds (culprit.found, culprit.notFound, revert.made, revert.refused — notify/kinds.ts),
 * from the facts the payload carries. Pure.
 */
import type { CulpritFacts, CulpritPayload, RevertFacts, RevertPayload } from '../notify/kinds.js';

export function culpritNotice(f: CulpritFacts): CulpritPayload {
  const where = `${f.repo}/${f.branch}`;
  const text = f.sha
    ? `${where}: build ${f.build} was broken by ${f.sha.slice(0, 10)}${by(f.author)}${about(f.subject)}${f.confirmed ? ' (confirmed)' : ' (suspected)'}`
    : `${where}: no single commit of build ${f.build}'s blamelist could be named as the culprit`;
  return { ...f, text };
}

export function revertNotice(f: RevertFacts): RevertPayload {
  const where = `${f.repo}/${f.branch}`;
  const sha = f.culprit.slice(0, 10);
  const text = f.revert !== undefined
    ? `${where}: greengate reverted ${sha}${by(f.author)}${about(f.subject)} (red build ${f.build})`
    : `${where}: greengate did not revert ${sha}: ${f.reason ?? 'refused'}`;
  return { ...f, text };
}

const by = (author: string | null) => (author ? ` by ${author}` : '');
const about = (subject: string | null) => (subject ? `: ${subject}` : '');
