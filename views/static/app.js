// greengate pages: live updates over one WebSocket per page, and the log viewer.
// Every page works without this script; it only keeps the page current.
// Safety: user text never reaches innerHTML here except as ansi_up's escaped output. Live regions
// are swapped with HTML the server rendered (nunjucks, autoescaped), parsed by DOMParser.
import { AnsiUp } from '/static/ansi_up.js';

const LIVE = document.body.dataset.live || '';
const BUILD = Number(document.body.dataset.build) || null;
const REFRESH_DEBOUNCE_MS = 100;
const FORM_WAIT_MS = 1000; // a region holding a form being filled in is refreshed after this, if still untouched
const MAX_BACKOFF_MS = 10000;
const MAX_EARLIER_LOADS = 16; // "load earlier" steps taken to reach a #u…-L… anchor
const MAX_JUMP_BYTES = 4 * 1024 * 1024; // the most one of those steps asks for
const BLOCK_LINES = 200;
const MAX_DOM_LINES = 100000; // lines a followed log keeps on the page
const GUTTER_PX = 56; // the line numbers' column: a click there links the line
const LINE_PX = 17; // a log line's height before it is laid out
const utf8 = new TextEncoder();
const TIMES_KEY = 'gg-log-times'; // localStorage: "1" when log line times are shown

document.documentElement.classList.add('js');

// ---- relative times -------------------------------------------------------------------------
function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
function refreshAges() {
  for (const t of document.querySelectorAll('time[data-at]')) t.textContent = `${formatAge(Date.now() - Number(t.dataset.at))} ago`;
}
setInterval(refreshAges, 10000);

// ---- live regions: fetched again (debounced) when the socket says something changed -------------
class Region {
  constructor(selector, onSwap) {
    this.selector = selector;
    this.onSwap = onSwap;
    this.timer = null;
    this.busy = false;
    this.again = false;
  }
  get el() { return document.querySelector(this.selector); }
  /** Someone is filling in a form in the region (a quarantine reason): refresh after they are done. */
  postponeForForm(el) {
    const typing = [...el.querySelectorAll('form input[type=text], form textarea')].some((i) => i.value || i === document.activeElement);
    if (typing) this.timer ??= setTimeout(() => { this.timer = null; this.run(); }, FORM_WAIT_MS);
    return typing;
  }
  schedule() {
    if (!this.el || this.el.dataset.frozen) return;
    if (this.busy) { this.again = true; return; }
    this.timer ??= setTimeout(() => { this.timer = null; this.run(); }, REFRESH_DEBOUNCE_MS);
  }
  async run() {
    const el = this.el;
    if (!el) return;
    if (this.postponeForForm(el)) return;
    this.busy = true;
    try {
      const res = await fetch(el.dataset.fragment, { headers: { accept: 'text/html' }, cache: 'no-store' });
      if (res.ok) {
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        const fresh = doc.body.firstElementChild;
        if (fresh && this.postponeForForm(el)) fresh.remove();
        else if (fresh) this.onSwap ? this.onSwap(el, fresh) : swap(el, fresh);
      }
    } catch { /* the socket's reconnect will refresh again */ }
    this.busy = false;
    if (this.again) { this.again = false; this.schedule(); }
  }
}

/** Replaces a region, keeping which <details> were open. */
function swap(old, fresh) {
  if (fresh.dataset.title) document.title = fresh.dataset.title;
  if (fresh.dataset.tree) document.getElementById('favicon')?.setAttribute('href', `/static/icon-${fresh.dataset.tree}.svg`);
  const open = new Map([...old.querySelectorAll('details[data-keep]')].map((d) => [d.dataset.keep, d.open]));
  const node = document.adoptNode(fresh);
  for (const d of node.querySelectorAll('details[data-keep]')) if (open.has(d.dataset.keep)) d.open = open.get(d.dataset.keep);
  old.replaceWith(node);
}

// ---- the log viewer ---------------------------------------------------------------------------
/** A line's time on this browser's clock: 14:03:07.250. */
function formatClock(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
function byteLength(s) { return utf8.encode(s).length; }
function dropBytes(s, n) { return new TextDecoder().decode(utf8.encode(s).subarray(n)); }
function cleanLine(line) {
  const l = line.replace(/\r+$/, '');
  const cr = l.lastIndexOf('\r');
  return cr >= 0 ? l.slice(cr + 1) : l;
}
// Colours that read on the dark log background (ansi_up's defaults are for white paper).
const DARK_PALETTE = [[72, 79, 88], [255, 123, 114], [63, 185, 80], [210, 153, 34], [88, 166, 255], [188, 140, 255], [57, 197, 207], [230, 237, 243]];
function newAnsi() {
  const ansi = new AnsiUp();
  ansi.ansi_colors?.[0]?.forEach((c, i) => { c.rgb = DARK_PALETTE[i]; });
  return ansi;
}
async function getJSON(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

class UnitLog {
  constructor(section) {
    this.section = section;
    this.unit = Number(section.dataset.unit);
    this.pre = section.querySelector('pre.log');
    this.followBox = section.querySelector('.follow input');
    this.timesBox = section.querySelector('.times input');
    this.times = []; // [byte offset where a chunk starts, ms it was received], by offset
    this.earlier = section.querySelector('.load-earlier');
    this.ansi = newAnsi();
    this.started = false; // opened at least once
    this.ready = false; // loaded and not catching up
    this.next = 0; // byte offset of the next byte expected
    this.start = 0; // byte offset of the first line shown
    this.startLine = 1;
    this.lineNo = 0; // number of the last complete line shown
    this.partial = ''; // text after the last newline
    this.partialEl = null;
    this.lineEnd = 0; // byte offset just after the last complete line shown
    this.queue = [];
    this.autoScroll = false;
    section.addEventListener('toggle', () => { if (section.open) this.open(); });
    section.addEventListener('click', (e) => { if (e.target.closest('summary')) section.dataset.touched = '1'; });
    this.pre.addEventListener('scroll', () => this.onScroll());
    this.pre.addEventListener('click', (e) => {
      const ln = e.target.closest?.('.ln');
      if (ln && e.clientX - ln.getBoundingClientRect().left < GUTTER_PX) location.hash = ln.id;
    });
    this.followBox?.addEventListener('change', () => { if (this.followBox.checked) this.scrollToEnd(); });
    this.timesBox?.addEventListener('change', () => {
      try { localStorage.setItem(TIMES_KEY, this.timesBox.checked ? '1' : '0'); } catch { /* private mode */ }
      for (const log of logs.values()) log.showTimes(this.timesBox.checked);
    });
    let shown = false;
    try { shown = localStorage.getItem(TIMES_KEY) === '1'; } catch { /* private mode */ }
    this.showTimes(shown);
    this.earlier?.addEventListener('click', () => this.loadEarlier());
    if (section.open) this.open();
  }
  get follow() { return !!this.followBox?.checked; }

  showTimes(on) {
    if (this.timesBox) this.timesBox.checked = on;
    this.pre.classList.toggle('show-times', on);
  }

  /** Merges [offset, at] pairs from the server or the socket into the sorted list. */
  addTimes(pairs) {
    if (!pairs?.length) return;
    const known = new Map(this.times.map((p) => [p[0], p[1]]));
    for (const [offset, at] of pairs) if (Number.isFinite(offset) && Number.isFinite(at)) known.set(offset, at);
    this.times = [...known].sort((a, b) => a[0] - b[0]);
  }

  /** The time of the chunk holding byte `offset`, or null. */
  timeAt(offset) {
    let lo = 0;
    let hi = this.times.length - 1;
    let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid][0] <= offset) { found = this.times[mid][1]; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  async open() {
    if (this.started) return;
    this.started = true;
    try {
      const r = await getJSON(`/units/${this.unit}/log`);
      this.addTimes(r.times);
      this.pre.replaceChildren();
      this.start = r.from;
      this.startLine = r.line;
      this.lineNo = r.line - 1;
      this.lineEnd = r.from;
      this.appendText(r.text);
      this.next = r.to;
      this.ready = true;
      this.updateEarlier();
      this.pre.classList.add('live');
      if (socketReady) await this.catchUp();
      this.drain();
      await this.showAnchor();
      if (!location.hash.startsWith(`#u${this.unit}-`)) this.scrollToEnd(true);
    } catch (err) {
      this.started = false;
      this.pre.dataset.error = String(err.message || err);
    }
  }

  onChunk(m) {
    if (!this.started) return;
    if (!this.ready) { this.queue.push(m); return; }
    this.apply(m);
  }

  apply(m) {
    const bytes = byteLength(m.data);
    if (m.offset + bytes <= this.next) return; // already shown
    if (m.offset > this.next) { this.queue.push(m); this.catchUp(); return; }
    if (m.at) this.addTimes([[m.offset, m.at]]);
    const text = m.offset < this.next ? dropBytes(m.data, this.next - m.offset) : m.data;
    this.appendText(text);
    this.next = m.offset + bytes;
  }

  drain() {
    this.queue.sort((a, b) => a.offset - b.offset);
    while (this.ready && this.queue.length) this.apply(this.queue.shift());
  }

  /** Fetches everything from `next` on (after a gap, a reconnect, or the unit's end). */
  async catchUp() {
    if (!this.started || !this.ready) return;
    this.ready = false;
    try {
      for (let i = 0; i < 1000; i++) {
        const r = await getJSON(`/units/${this.unit}/log?from=${this.next}`);
        if (r.to > this.next) {
          this.addTimes(r.times);
          this.appendText(r.text);
          this.next = r.to;
        }
        if (r.to >= r.size || r.to <= r.from) break;
      }
    } catch { /* next event or reconnect tries again */ }
    this.ready = true;
    this.drain();
  }

  appendText(text) {
    if (!text) return;
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop();
    if (this.partialEl) { this.partialEl.remove(); this.partialEl = null; }
    const frag = this.blocks(parts, this.lineNo + 1, this.ansi, this.lineEnd);
    this.lineNo += parts.length;
    this.lineEnd += parts.reduce((n, l) => n + byteLength(l) + 1, 0);
    if (this.partial) {
      const probe = Object.assign(Object.create(Object.getPrototypeOf(this.ansi)), this.ansi); // keep the colour state
      this.partialEl = this.blocks([this.partial], this.lineNo + 1, probe, this.lineEnd).firstChild;
      frag.appendChild(this.partialEl);
    }
    this.pre.appendChild(frag);
    if (this.follow) {
      this.trim();
      this.scrollToEnd();
    }
  }

  /** While following a huge live log, the oldest blocks leave the page ("load earlier" brings them back). */
  trim() {
    while (this.lineNo - this.startLine > MAX_DOM_LINES && this.pre.firstElementChild !== this.partialEl) {
      this.pre.firstElementChild.remove();
      const first = this.pre.firstElementChild;
      this.start = Number(first.dataset.from);
      this.startLine = Number(first.dataset.line);
    }
    this.updateEarlier();
  }

  /**
   * Lines as blocks of at most BLOCK_LINES, each rendered with one innerHTML: the only text in
   * it is ansi_up's output (the log line HTML-escaped, in colour spans) and numbers we made.
   * Off-screen blocks skip layout (content-visibility), so a long log stays quick.
   */
  blocks(lines, first, ansi, from) {
    const frag = document.createDocumentFragment();
    for (let i = 0; i < lines.length; i += BLOCK_LINES) {
      const slice = lines.slice(i, i + BLOCK_LINES);
      let html = '';
      let at = from;
      slice.forEach((line, j) => {
        const n = first + i + j;
        const t = this.timeAt(at);
        // The time is drawn by CSS from data-t: it is not part of the line's text (copying, searching).
        const stamp = t === null ? '' : `<span class="t" data-t="${formatClock(t)}" title="${new Date(t).toISOString()}"></span>`;
        html += `<div class="ln" id="u${this.unit}-L${n}" data-n="${n}">${stamp}${ansi.ansi_to_html(cleanLine(line))}</div>`;
        at += byteLength(line) + 1;
      });
      const blk = document.createElement('div');
      blk.className = 'blk';
      blk.dataset.line = String(first + i);
      blk.dataset.from = String(from);
      from += byteLength(slice.join('\n')) + slice.length;
      blk.style.containIntrinsicSize = `auto ${slice.length * LINE_PX}px`;
      blk.innerHTML = html;
      frag.appendChild(blk);
    }
    return frag;
  }

  async loadEarlier(bytes = 0) {
    if (this.start <= 0) return;
    const r = await getJSON(`/units/${this.unit}/log?before=${this.start}${bytes ? `&bytes=${bytes}` : ''}`);
    this.addTimes(r.times);
    const lines = r.text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const fromBottom = this.pre.scrollHeight - this.pre.scrollTop;
    this.pre.insertBefore(this.blocks(lines, r.line, newAnsi(), r.from), this.pre.firstChild);
    this.pre.scrollTop = this.pre.scrollHeight - fromBottom;
    this.start = r.from;
    this.startLine = r.line;
    this.updateEarlier();
  }

  updateEarlier() {
    if (!this.earlier) return;
    this.earlier.hidden = this.start <= 0;
    this.earlier.textContent = `load earlier (${Math.ceil(this.start / 1024)} KiB before line ${this.startLine})`;
  }

  /** Scrolls to #u<unit>-L<n>, loading earlier output until that line is there. */
  async showAnchor() {
    const m = new RegExp(`^#u${this.unit}-L(\\d+)$`).exec(location.hash);
    if (!m) return;
    const n = Number(m[1]);
    for (let i = 0; i < MAX_EARLIER_LOADS && n < this.startLine && this.start > 0; i++) {
      const perLine = (this.next - this.start) / Math.max(1, this.lineNo - this.startLine + 1);
      await this.loadEarlier(Math.min(MAX_JUMP_BYTES, Math.ceil((this.startLine - n) * perLine * 1.2) + 4096));
    }
    const el = document.getElementById(location.hash.slice(1));
    if (!el) return;
    if (this.followBox) this.followBox.checked = false;
    for (const old of this.pre.querySelectorAll('.hl')) old.classList.remove('hl');
    el.classList.add('hl');
    el.scrollIntoView({ block: 'center' });
  }

  scrollToEnd(force = false) {
    if (!force && !this.follow) return;
    const end = this.pre.scrollHeight - this.pre.clientHeight;
    if (Math.abs(this.pre.scrollTop - end) <= 1) return;
    this.autoScroll = true;
    this.pre.scrollTop = end;
  }

  onScroll() {
    if (this.autoScroll) { this.autoScroll = false; return; }
    const atEnd = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    if (this.followBox && this.followBox.checked !== atEnd) this.followBox.checked = atEnd;
  }
}

const logs = new Map();
function attachLogs(root = document) {
  for (const s of root.querySelectorAll('details.unit-log[data-unit]')) {
    const id = Number(s.dataset.unit);
    if (!logs.has(id)) logs.set(id, new UnitLog(s));
  }
}
attachLogs();
window.addEventListener('hashchange', () => { for (const l of logs.values()) if (l.ready) l.showAnchor(); });

/** New units get a viewer; known ones get their fresh summary line (state, size); open viewers stay as they are. */
function mergeLogs(old, fresh) {
  for (const s of fresh.querySelectorAll('details.unit-log[data-unit]')) {
    const mine = old.querySelector(`details.unit-log[data-unit="${s.dataset.unit}"]`);
    if (mine) {
      if (s.open && !mine.open && !mine.dataset.touched) mine.open = true;
      mine.querySelector('summary').replaceWith(document.adoptNode(s.querySelector('summary')));
      mine.dataset.done = s.dataset.done;
    } else {
      old.querySelector('p.muted')?.remove();
      old.appendChild(document.adoptNode(s));
    }
  }
  attachLogs(old);
}

// ---- the socket ---------------------------------------------------------------------------------
const main = new Region('#live-region');
const logRegion = new Region('#logs', mergeLogs);
const TRIGGERS = {
  waterfall: new Set(['build', 'unit', 'tree', 'runners']),
  runners: new Set(['build', 'unit', 'runners']),
  tree: new Set(['tree']),
  build: new Set(),
};
let socketReady = false;

function onMessage(m) {
  if (m.t === 'hello') {
    socketReady = true;
    main.schedule();
    if (BUILD) logRegion.schedule();
    for (const l of logs.values()) l.catchUp();
    return;
  }
  if (m.t === 'log') return logs.get(m.unit)?.onChunk(m);
  if (LIVE === 'build') {
    if ((m.t === 'build' && m.id === BUILD) || (m.t === 'unit' && m.build === BUILD)) {
      main.schedule();
      logRegion.schedule();
      if (m.t === 'unit' && m.state === 'done') logs.get(m.id)?.catchUp();
    }
    return;
  }
  if (TRIGGERS[LIVE]?.has(m.t)) main.schedule();
}

function connect(attempt = 0) {
  const status = document.getElementById('live-status');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/live${BUILD ? `?build=${BUILD}` : ''}`);
  let opened = false;
  ws.onopen = () => { opened = true; status?.classList.add('on'); if (status) status.textContent = 'live'; };
  ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
  ws.onclose = () => {
    socketReady = false;
    status?.classList.remove('on');
    if (status) status.textContent = 'reconnecting…';
    const next = opened ? 0 : attempt + 1;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** next) * (0.5 + Math.random() / 2);
    setTimeout(() => connect(next), delay);
  };
}
if (LIVE) connect();
