/**
 * The waterfall's model: rows are pushes (a repository, branch and commit), newest first;
 * columns are the configured builders grouped by repository; a cell is the newest build of that
 * push on that builder. Rows are ordered by push (a rebuild keeps its original's, so a rebuild of an
 * old commit lands in its push's row and place, not on top), newest first. Reads the newest builds in batches (ORDER BY id DESC LIMIT on an index)
 * until it has the rows it needs, so it costs the same with 200 builds or with 100,000. A filter
 * (branch, commit author) narrows both sections; the store reads it along its own index.
 */
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { PageStore, WaterfallBuild, WaterfallFilter } from '../store/pages.js';
import type { TreeJson } from '../gate/tree.js';
import type { RunnerInfo } from './api.js';

/** What the waterfall reads besides the page queries. */
export interface WaterfallDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'units'>;
  connectedRunners(): readonly RunnerInfo[];
  treeStatus(repo: string, branch: string): TreeJson;
  /** The deploys lane: the newest deploys (pagesDeploys.ts); absent: no lane. */
  recentDeploys?(): readonly unknown[];
}

export const DEFAULT_ROWS = 30;
export const MAX_ROWS = 200;
export const TRY_ROWS = 10;
export const BISECT_ROWS = 10; // the culprit searches' lane
const MAX_BATCHES = 4; // reads of the builds table per section, whatever happens

export interface Column { key: string; repo: string; builder: string }
export interface ColumnGroup { repo: string; span: number }
export interface Cell {
  id: number; cls: string; label: string; detail: string; title: string; rebuilds: number;
  /** A stepped build's steps as Buildbot's waterfall lists them: name, state (cls) and time; absent: a builder without steps. */
  steps?: { name: string; cls: string; detail: string }[];
}
export interface Row {
  key: string; repo: string; branch: string; kind: 'branch' | 'try' | 'bisect'; sha: string; author: string | null;
  subject: string | null; pusher: string | null; pushedAt: number; commits: number; cells: Record<string, Cell>;
  /** The land queue change this head landed through (a branch row), else null. */
  queued?: number | null;
}
export interface Section { rows: Row[]; next: number | null; columns: Column[]; groups: ColumnGroup[] }
export interface RunnerSummary { connected: number; slots: number; busy: number; queued: number; names: string[] }
export interface Waterfall {
  banners: TreeJson[]; branches: Section; tries: Section; bisects: Section; runners: RunnerSummary; before: number | null;
  /** The page's query without the cursor (`rows=50&branch=main`), kept by paging links and the live fragment. */
  query: string;
  filter: WaterfallFilter;
  treeState: 'open' | 'closed' | 'maintenance'; title: string; deploys: readonly unknown[];
}

export function buildWaterfall(deps: WaterfallDeps, pages: PageStore, opts: { rows: number; before?: number; filter?: WaterfallFilter }): Waterfall {
  const base = configuredColumns(deps);
  const filter = opts.filter ?? {};
  const branches = readSection(pages, 'branch', opts.rows, opts.before, base, filter);
  const tries = opts.before === undefined ? readSection(pages, 'try', TRY_ROWS, undefined, base, filter) : emptySection();
  const bisects = opts.before === undefined ? readSection(pages, 'bisect', BISECT_ROWS, undefined, base, filter) : emptySection();
  const banners = treeBanners(deps);
  const shut = banners.filter((t) => t.state !== 'open');
  return {
    banners, branches, tries, bisects, runners: runnerSummary(deps), before: opts.before ?? null, deploys: deps.recentDeploys?.() ?? [],
    query: waterfallQuery(opts.rows, filter), filter,
    treeState: shut.some((t) => t.state === 'closed') ? 'closed' : shut.length ? 'maintenance' : 'open',
    title: shut.length ? `✖ ${shut.map((t) => `${t.repo}/${t.branch} ${t.state}`).join(', ')} · greengate` : 'greengate waterfall',
  };
}

/** The query string of a waterfall page without its cursor: only what differs from the defaults. */
export function waterfallQuery(rows: number, filter: WaterfallFilter): string {
  const q = new URLSearchParams();
  if (rows !== DEFAULT_ROWS) q.set('rows', String(rows));
  if (filter.branch) q.set('branch', filter.branch);
  if (filter.author) q.set('author', filter.author);
  return q.toString();
}

export function treeBanners(deps: Pick<WaterfallDeps, 'config' | 'treeStatus'>): TreeJson[] {
  return deps.config.repositories.flatMap((r) => r.gate.map((branch) => deps.treeStatus(r.name, branch)));
}

export function runnerSummary(deps: Pick<WaterfallDeps, 'connectedRunners' | 'store'>): RunnerSummary {
  const links = deps.connectedRunners();
  return {
    connected: links.length,
    slots: links.reduce((s, l) => s + l.slots, 0),
    busy: links.reduce((s, l) => s + l.busy, 0),
    queued: deps.store.units.queuedCount(),
    names: links.map((l) => l.name).sort(),
  };
}

function configuredColumns(deps: Pick<WaterfallDeps, 'config'>): Column[] {
  return deps.config.repositories.flatMap((r) => r.builders.map((b) => ({ key: `${r.name}/${b.name}`, repo: r.name, builder: b.name })));
}

function emptySection(): Section {
  return { rows: [], next: null, columns: [], groups: [] };
}

function readSection(pages: PageStore, kind: 'branch' | 'try' | 'bisect', limit: number, before: number | undefined, base: Column[],
  filter: WaterfallFilter): Section {
  const rows = new Map<string, Row>();
  const pushOf = new Map<string, number>(); // a row's newest push (change id)
  const batch = Math.max(50, limit * Math.max(1, base.length) + 10);
  let cursor = before;
  let next: number | null = null;
  read: for (let i = 0; i < MAX_BATCHES; i++) {
    const builds = pages.builds(kind, batch, cursor, filter);
    for (const b of builds) {
      const key = `${b.repo}\n${b.branch}\n${b.sha}`;
      let row = rows.get(key);
      if (!row) {
        if (rows.size === limit) { next = b.id + 1; break read; }
        row = { key, repo: b.repo, branch: b.branch, kind: b.kind, sha: b.sha, author: b.author, subject: b.subject,
          pusher: b.pusher, pushedAt: b.pushedAt, commits: b.commits, cells: {} };
        rows.set(key, row);
      }
      const col = `${b.repo}/${b.builder}`;
      const cell = row.cells[col];
      if (cell) cell.rebuilds++;
      else row.cells[col] = cellOf(pages, b);
      row.pushedAt = Math.min(row.pushedAt, b.pushedAt);
      pushOf.set(key, Math.max(pushOf.get(key) ?? 0, b.changeId));
      row.commits = Math.max(row.commits, b.commits);
    }
    if (builds.length < batch) break;
    cursor = builds[builds.length - 1].id;
    if (i === MAX_BATCHES - 1) next = cursor;
  }
  if (kind === 'branch') for (const row of rows.values()) row.queued = pages.landedThroughQueue(row.repo, row.branch, row.sha);
  const columns = withSeenBuilders(base, rows.values());
  const ordered = [...rows.values()].sort((a, b) => pushOf.get(b.key)! - pushOf.get(a.key)!); // stable: ties keep build order
  return { rows: ordered, next, columns, groups: groupColumns(columns) };
}

/** The configured builders, plus any a row has that the configuration no longer lists. */
function withSeenBuilders(base: Column[], rows: Iterable<Row>): Column[] {
  const known = new Set(base.map((c) => c.key));
  const extra: Column[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row.cells)) {
      if (known.has(key)) continue;
      known.add(key);
      extra.push({ key, repo: row.repo, builder: key.slice(row.repo.length + 1) });
    }
  }
  const all = [...base, ...extra];
  const order = [...new Set(all.map((c) => c.repo))];
  return all.sort((a, b) => order.indexOf(a.repo) - order.indexOf(b.repo));
}

function groupColumns(columns: Column[]): ColumnGroup[] {
  const groups: ColumnGroup[] = [];
  for (const c of columns) {
    const last = groups[groups.length - 1];
    if (last && last.repo === c.repo) last.span++;
    else groups.push({ repo: c.repo, span: 1 });
  }
  return groups;
}

export function cellOf(pages: PageStore, b: WaterfallBuild, now = Date.now()): Cell {
  const cell = buildCellOf(pages, b, now);
  const steps = pages.buildSteps(b.id);
  if (steps.length === 0) return cell;
  return { ...cell, steps: steps.map((s) => ({ name: s.name, cls: s.result,
    detail: s.startedAt === null ? '' : formatShort((s.finishedAt ?? now) - s.startedAt) })) };
}

function buildCellOf(pages: PageStore, b: WaterfallBuild, now: number): Cell {
  const why = b.cause === 'schedule' ? ' · scheduled' : b.cause === 'manual' ? ' · started by hand' : b.cause === 'rerun' ? ' · re-run of what failed' : b.cause === 'rebuild' ? ' · rebuild' : '';
  const title = `${b.builder} build ${b.id}: ${b.result ?? b.state}${b.reason ? ` (${b.reason})` : ''}${why}`;
  if (b.state === 'queued') return { id: b.id, cls: 'queued', label: 'queued', detail: '', title, rebuilds: 0 };
  if (b.state === 'running') {
    const p = pages.fileProgress(b.id);
    const label = p.filesTotal > 0 ? `${p.filesDone}/${p.filesTotal} files` : `${b.unitsDone}/${b.unitsTotal} units`;
    return { id: b.id, cls: 'running', label, detail: formatShort(now - (b.startedAt ?? now)), title, rebuilds: 0 };
  }
  const took = b.finishedAt !== null ? b.finishedAt - (b.startedAt ?? b.pushedAt) : null;
  const result = b.result ?? 'exception';
  return { id: b.id, cls: result, label: result, detail: took === null ? '' : formatShort(took), title, rebuilds: 0 };
}

function formatShort(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
