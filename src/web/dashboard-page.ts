/**
 * The dashboard: one small page, no build step and nothing from the internet.
 * It asks for the cluster key once (kept for the browser session, never put in a
 * URL), and uploads, downloads and deletes through /files/NAME with the key in the
 * Authorization header. It reads /api/events with fetch and a stream reader
 * (EventSource cannot send a header): a snapshot first, then each event patches
 * the page in place, so nothing is polled. A member going up or down, or a
 * `lagged` notice, makes it read /api/status and /api/files once. When the stream
 * ends it says "reconnecting…" and opens it again, waiting longer each time.
 * A download asks this server to stream the file through (`?proxy=1`) when another
 * server holds it; every action that fails says why on the page. At phone width
 * each file is a card and no word or button is broken.
 */
import { KEPT_PANES_HTML, KEPT_PANES_SCRIPT } from './dashboard-kept.ts';
import { SNAPSHOT_FILES } from './file-listing.ts';

import {
  SECOND_BROWSE_HTML,
  SECOND_SCRIPT,
  SECOND_SECTIONS_HTML,
  SECOND_STYLE,
  SECOND_SUMMARY_HTML,
} from './dashboard-second.ts';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lanfs</title>
<style>
  [hidden] { display: none !important; }
  :root { font-family: system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1100px; padding: 1rem; }
  h1 { font-size: 1.4rem; margin: .2rem 0 1rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; border-radius: 6px; overflow: hidden; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e3e6ea; font-size: .92rem; overflow-wrap: anywhere; }
  th { background: #eef1f4; font-weight: 600; }
  .up { color: #137333; font-weight: 600; } .down { color: #b3261e; font-weight: 600; }
  .muted { color: #6b7380; } .warn { background: #fff4e5; padding: .6rem; border-radius: 6px; }
  button, input[type=submit] { padding: .3rem .7rem; border: 1px solid #b9c0c9; border-radius: 5px; background: #fff; cursor: pointer; white-space: nowrap; font: inherit; font-size: .9rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; background: #fff; padding: .6rem; border-radius: 6px; }
  form label { display: flex; gap: .4rem; align-items: center; flex-wrap: wrap; min-width: 0; }
  input { max-width: 100%; min-width: 0; box-sizing: border-box; }
  .actions { white-space: nowrap; }
  .hint { margin: .3rem 0 0; flex-basis: 100%; font-size: .88rem; }
  #error { color: #b3261e; min-height: 1.2em; overflow-wrap: anywhere; }
  /* A phone: each file becomes a card (name, then its facts, then its buttons). */
  @media (max-width: 640px) {
    body { padding: .6rem; }
    .wide { display: none; }
    #files-table thead { display: none; }
    #files-table, #files-table tbody, #files-table tr, #files-table td { display: block; }
    #files-table tr { padding: .5rem .6rem; border-bottom: 1px solid #e3e6ea; }
    #files-table td { border: 0; padding: .1rem 0; }
    #files-table td[data-label] { display: inline-block; margin-right: .9rem; }
    #files-table td[data-label]::before { content: attr(data-label) ": "; color: #6b7380; }
    #files-table .wide { display: none; }
    #files-table td.name { font-weight: 600; }
    #files-table td.actions { padding-top: .35rem; }
    #upload label { flex: 1 1 100%; flex-wrap: nowrap; }
    #upload label input { flex: 1 1 auto; }
  }
${SECOND_STYLE}
</style>
</head>
<body>
<h1>lanfs <span class="muted" id="where"></span> <span class="muted" id="live" data-testid="live"></span></h1>
<form id="login" hidden>
  <label>Cluster key <input id="key" type="password" autocomplete="current-password" data-testid="key"></label>
  <input type="submit" value="Open">
  <p class="hint muted" data-testid="key-hint">The key is in the file <code>./lanfs-data/key</code> for a cluster started with <code>lanfs up</code>; otherwise it is the <code>--key</code> (or the content of the <code>--key-file</code>) its servers were started with.</p>
</form>
<div id="error" role="alert"></div>
<main id="main" hidden>
  <div id="insecure" class="warn" hidden>This cluster runs without a key: anyone on the LAN can read and change its files.</div>
${SECOND_SUMMARY_HTML}
${SECOND_BROWSE_HTML}
  <h2>Servers</h2>
  <table><thead><tr><th>Id</th><th>Address</th><th>State</th><th>Files</th><th>Space</th></tr></thead><tbody id="servers" data-testid="servers"></tbody></table>
  <h2>Files</h2>
  <form id="upload">
    <input id="file" type="file" data-testid="file">
    <label>as <input id="name" placeholder="name (default: the file's name)" data-testid="name"></label>
    <input type="submit" value="Upload" data-testid="upload">
  </form>
  <table id="files-table"><thead><tr><th>Name</th><th>Size</th><th>Version</th><th>Primary</th><th>Copies</th><th>Verified</th><th class="wide">sha256</th><th></th></tr></thead>
  <tbody id="files" data-testid="files"></tbody></table>
  <p id="files-paged" class="muted" hidden data-testid="files-paged"><span id="files-shown"></span> <button id="more-files" data-testid="more-files">Show more files</button></p>
  <div id="health"></div>
  ${KEPT_PANES_HTML}
${SECOND_SECTIONS_HTML}
  <h2>Connect</h2>
  <p class="muted" data-testid="connect">Network drive (WebDAV, any user name, the cluster key as password): <code id="dav-address"></code><br>
  S3 endpoint (path style; access key id <code>lanfs</code>, the cluster key as secret): <code id="s3-address"></code></p>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem('lanfs-key') || '';
const auth = () => (key ? { Authorization: 'Bearer ' + key } : {});
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
// What the scrubs found (issue 13), in the words of \`lanfs show\`.
const ago = (ms) => { const s = Math.max(0, Math.round(ms / 1000)); if (s < 60) return s < 5 ? 'just now' : s + ' s ago'; const m = Math.round(s / 60); if (m < 60) return m + ' min ago'; const h = Math.round(m / 60); return h < 48 ? h + ' h ago' : Math.round(h / 24) + ' days ago'; };
const verifiedText = (v) => !v ? '—' : v.bad.length ? 'damaged copy on server' + (v.bad.length === 1 ? ' ' : 's ') + v.bad.join(', ') : v.at === null ? 'not verified yet' : 'verified on ' + v.verifiedCopies + '/' + v.copies + ' copies, ' + ago(Date.now() - v.at);
const size = (n) => n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : n < 1073741824 ? (n / 1048576).toFixed(1) + ' MiB' : (n / 1073741824).toFixed(2) + ' GiB';
const fileUrl = (name) => '/files/' + name.split('/').map(encodeURIComponent).join('/');
function say(message) { $('error').textContent = message || ''; }

// What the page shows: the last snapshot, patched by each event. A large cluster's
// files come a page at a time (issue 16): the snapshot has the first, "Show more
// files" reads the next from /api/files after the last name read (loadedTo), and
// search and folders ask the server for the names under them (prefix).
const FILES_PAGE = ${SNAPSHOT_FILES};
let state = { status: null, files: new Map(), filesMore: false, loadedTo: undefined };

function applySnapshot(snapshot) {
  const files = snapshot.files;
  state = { status: snapshot.status, files: new Map(files.map((f) => [f.name, f])), filesMore: !!snapshot.filesMore, loadedTo: files.length ? files[files.length - 1].name : undefined };
  render();
  keptStart();
}

// One page of /api/files: at most FILES_PAGE after \`after\`, under \`prefix\`.
async function filesPage(after, prefix) {
  const query = new URLSearchParams({ limit: String(FILES_PAGE) });
  if (after !== undefined) query.set('after', after);
  if (prefix) query.set('prefix', prefix);
  const res = await fetch('/api/files?' + query, { headers: auth(), cache: 'no-store' });
  if (!res.ok) throw new Error(await refusal(res));
  return await res.json();
}

function mergeFiles(files) { for (const f of files) state.files.set(f.name, f); }

async function moreFiles() {
  const files = await filesPage(state.loadedTo);
  mergeFiles(files);
  if (files.length) state.loadedTo = files[files.length - 1].name;
  state.filesMore = files.length >= FILES_PAGE;
  render();
}

// The names under a prefix (a search, a folder opened), when not every file is read yet.
const prefixesRead = new Set();
async function filesUnder(prefix) {
  if (!state.filesMore || !prefix || prefixesRead.has(prefix)) return;
  prefixesRead.add(prefix);
  mergeFiles(await filesPage(undefined, prefix));
  render();
}

// Files per server, from the list (a record-changed event carries no server counts);
// while only some pages are read, the servers' own counts stay.
function recount() {
  if (state.filesMore) return;
  const counts = new Map();
  for (const f of state.files.values())
    for (const id of [f.primary, ...f.replicas]) counts.set(id, (counts.get(id) || 0) + 1);
  for (const s of state.status.servers) s.files = counts.get(s.id) || 0;
}

function applyEvent(type, event) {
  noteActivity(type, event);
  keptEvent(type, event);
  const status = state.status;
  if (!status) return;
  if (type === 'record-changed') {
    const name = event.name;
    status.conflicts = status.conflicts.filter((c) => c.name !== name);
    if (event.record) {
      const r = event.record;
      // Who edits it is not in the record: kept until a lease event reads it again.
      const editing = state.files.get(name)?.editing;
      state.files.set(name, { ...r, available: r.available !== false, modifiedAt: new Date(r.modifiedAt).toISOString(), editing });
      if (r.conflictOf) status.conflicts.push({ name, conflictOf: r.conflictOf });
      if (1 + r.replicas.length >= status.replicas) status.underReplicated = status.underReplicated.filter((n) => n !== name);
    } else {
      state.files.delete(name);
      status.underReplicated = status.underReplicated.filter((n) => n !== name);
    }
    recount();
  } else if (type === 'copy-missing') {
    if (!status.underReplicated.includes(event.name)) status.underReplicated.push(event.name);
  } else if (type === 'conflict') {
    if (!status.conflicts.some((c) => c.name === event.name)) status.conflicts.push({ name: event.name, conflictOf: event.conflictOf });
  } else if (type === 'member-up' || type === 'member-down' || type === 'lagged') {
    // Which files became (un)available is not in the event: read the state once.
    void reload();
    return;
  } else {
    return; // copy-made, transfers, watching: nothing on this page changes
  }
  render();
}

async function reload() {
  const [status, files] = await Promise.all(['/api/status', '/api/files?limit=' + FILES_PAGE].map(async (url) => {
    const res = await fetch(url, { headers: auth() });
    if (!res.ok) throw new Error(url + ': ' + res.status);
    return await res.json();
  }));
  prefixesRead.clear();
  applySnapshot({ status, files, filesMore: files.length >= FILES_PAGE });
}

function render() {
  const { status, files } = state;
  $('where').textContent = '· server ' + status.connectedTo + ' · ' + status.replicas + ' copies per file';
  $('insecure').hidden = !status.insecure;
  const servers = $('servers'); servers.replaceChildren();
  for (const s of status.servers) {
    const tr = el('tr'); tr.dataset.server = String(s.id);
    tr.append(el('td', String(s.id)), el('td', s.address), el('td', s.up ? 'up' : 'down', s.up ? 'up' : 'down'), el('td', String(s.files)));
    servers.append(tr);
  }
  const body = $('files'); body.replaceChildren();
  for (const f of [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const tr = el('tr'); tr.dataset.file = f.name;
    const get = el('button', 'download'); get.onclick = () => download(f.name);
    const del = el('button', 'delete'); del.onclick = () => remove(f.name);
    const actions = el('td', undefined, 'actions'); actions.append(get, ' ', del);
    const fact = (label, text) => { const td = el('td', text); td.dataset.label = label; return td; };
    tr.append(el('td', f.name + (f.available ? '' : ' (unavailable)'), 'name'), fact('Size', size(f.size)), fact('Version', 'v' + f.version),
      fact('Primary', 'server ' + f.primary), fact('Copies', f.replicas.length ? f.replicas.map((r) => 'server ' + r).join(', ') : '—'),
      fact('Verified', verifiedText(f.verified)),
      el('td', f.sha256.slice(0, 16) + '…', 'wide muted'), actions);
    body.append(tr);
    keptRow(f, tr, actions);
  }
  $('files-paged').hidden = !state.filesMore;
  $('files-shown').textContent = 'Showing ' + files.size + ' files so far; search or open a folder to read its files.';
  keptRender(status);
  const health = $('health'); health.replaceChildren();
  if (status.underReplicated.length) {
    health.append(el('h2', 'Below ' + status.replicas + ' copies'));
    const ul = el('ul'); for (const n of status.underReplicated) ul.append(el('li', n)); health.append(ul);
  }
  if (status.conflicts.length) {
    health.append(el('h2', 'Conflicts (kept under another name)'));
    const ul = el('ul'); for (const c of status.conflicts) ul.append(el('li', c.name + ' — lost the name ' + c.conflictOf)); health.append(ul);
  }
  renderSecond();
}

// One server-sent event (lines up to a blank line): its type and parsed data.
function parseEvent(block) {
  let type = 'message'; const data = [];
  for (const line of block.split('\\n')) {
    if (line.startsWith(':')) continue; // a heartbeat
    const colon = line.indexOf(':'); const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1); if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value; else if (field === 'data') data.push(value);
  }
  return data.length ? { type, data: JSON.parse(data.join('\\n')) } : null;
}

const BACKOFF_FIRST_MS = 500, BACKOFF_MAX_MS = 10000;
async function follow() {
  let backoff = BACKOFF_FIRST_MS;
  for (;;) {
    try {
      const res = await fetch('/api/events', { headers: auth(), cache: 'no-store' });
      if (res.status === 401) { showLogin('That key was refused; try again.'); return; }
      if (!res.ok || !res.body) throw new Error('the event stream answered ' + res.status);
      $('login').hidden = true; $('main').hidden = false; say('');
      const reader = res.body.getReader(); const decoder = new TextDecoder(); let buffer = '';
      for (;;) {
        const { value, done } = await reader.read(); if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\\r\\n?/g, '\\n');
        let cut; while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
          const event = parseEvent(buffer.slice(0, cut)); buffer = buffer.slice(cut + 2);
          if (!event) continue;
          // A snapshot: named so, or unnamed (servers before the event stream sent only those).
          if (event.type === 'snapshot' || event.type === 'message') {
            applySnapshot(event.data); $('live').textContent = '· live'; backoff = BACKOFF_FIRST_MS;
          } else applyEvent(event.type, event.data);
        }
      }
    } catch { /* said below */ }
    $('live').textContent = '· reconnecting…';
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }
}

// The sentence of a refused request: the server's own, or its status if the body has none.
async function refusal(res) {
  try { const body = await res.json(); if (body && body.error) return body.error; } catch { /* not JSON */ }
  return 'The server answered ' + res.status + ' ' + res.statusText + '; try again.';
}

// Runs one action of the page; whatever fails (a refusal, a lost connection) is said on the page.
async function act(what, run) {
  try { say(''); await run(); }
  catch (err) { say('Could not ' + what + ': ' + (err && err.message ? err.message : String(err)) + '; check that the server is up and try again.'); }
}

// proxy=1: a file held by another server comes through this one. A 307 would point at
// another origin, which fetch cannot follow with the key.
function download(name) {
  return act('download ' + name, async () => {
    const res = await fetch(fileUrl(name) + '?proxy=1', { headers: auth() });
    if (!res.ok) { say(await refusal(res)); return; }
    const link = el('a'); link.href = URL.createObjectURL(await res.blob()); link.download = name.split('/').pop();
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  });
}

function remove(name) {
  if (!confirm('Delete ' + name + ' from every server?')) return;
  return act('delete ' + name, async () => {
    const res = await fetch(fileUrl(name), { method: 'DELETE', headers: auth() });
    if (!res.ok) say(await refusal(res));
  });
}

$('upload').onsubmit = (event) => {
  event.preventDefault();
  const file = $('file').files[0]; if (!file) { say('Choose a file first.'); return; }
  const name = $('name').value.trim() || file.name;
  return act('upload ' + name, async () => {
    const res = await fetch(fileUrl(name), { method: 'PUT', headers: auth(), body: file });
    if (res.ok) $('upload').reset(); else say(await refusal(res));
  });
};

${SECOND_SCRIPT}
$('more-files').onclick = () => act('read more files', moreFiles);
function showLogin(message) { $('main').hidden = true; $('login').hidden = false; say(message); }
// The addresses other tools use on this same port: WebDAV under /dav/, S3 at the root.
$('dav-address').textContent = location.origin + '/dav/';
$('s3-address').textContent = location.origin;
${KEPT_PANES_SCRIPT}
$('login').onsubmit = (event) => { event.preventDefault(); key = $('key').value; sessionStorage.setItem('lanfs-key', key); void follow(); };
void act('reach the server', async () => {
  const res = await fetch('/api/status', { headers: auth() });
  if (res.status === 401) showLogin(key ? 'That key was refused; try again.' : ''); else void follow();
});
</script>
</body>
</html>
`;
