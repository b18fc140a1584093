/**
 * The dashboard's second edition (issue 15), pieces the page (dashboard-page.ts)
 * puts in: a health summary at the top (servers up, files below their copies
 * and when healing starts, conflicts, the last scrub, faults in force), disk
 * used and free per server, the files as a folder tree with search and sort,
 * each file's holders with their state (a down one greyed), drag-and-drop upload
 * with a progress bar (XHR, whose upload reports progress), live activity from
 * the event stream, and an editor pane: a text file up to 1 MiB opens in a
 * textarea with line numbers; Save sends PUT with If-Match (the ETag it was
 * opened at), and a 412 shows both versions and lets the person keep theirs
 * under another name or start again from the newest. Binary and larger files
 * offer download and upload only. Nothing comes from the internet.
 *
 * The script uses the page's globals ($, el, auth, state, size, fileUrl, say,
 * refusal, act, download, verifiedText, ago) and is called from its render()
 * and applyEvent().
 */

/** Files larger than this open for download/upload only, not in the editor. */
export const EDITABLE_MAX_BYTES = 1024 * 1024;

export const SECOND_STYLE = `
  #summary { display: flex; flex-wrap: wrap; gap: .5rem; margin: 0 0 .8rem; }
  #summary .tile { background: #fff; border-radius: 6px; padding: .5rem .8rem; min-width: 8.5rem; flex: 1 1 8.5rem; }
  #summary .tile b { display: block; font-size: 1.25rem; }
  #summary .tile.bad { background: #fdecea; } #summary .tile.ok { background: #e6f4ea; }
  #disks { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .5rem; }
  .disk { background: #fff; border-radius: 6px; padding: .5rem .7rem; font-size: .9rem; }
  .disk .bar { height: .5rem; background: #e3e6ea; border-radius: 3px; overflow: hidden; margin: .3rem 0; }
  .disk .bar span { display: block; height: 100%; background: #3b6fd8; }
  .disk.down { opacity: .5; }
  #browse-tools { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .4rem 0; }
  #crumbs button { border: 0; background: none; color: #1f5bd6; padding: .1rem .2rem; }
  #tree { background: #fff; border-radius: 6px; }
  #tree .row { display: flex; flex-wrap: wrap; gap: .3rem .8rem; align-items: center; padding: .4rem .6rem; border-bottom: 1px solid #e3e6ea; }
  #tree .row .nm { flex: 1 1 14rem; min-width: 0; overflow-wrap: anywhere; }
  #tree .folder .nm button { border: 0; background: none; color: #1f5bd6; padding: 0; font-weight: 600; }
  .holder { display: inline-block; padding: 0 .35rem; margin-right: .2rem; border-radius: 4px; background: #e6f4ea; color: #137333; font-size: .85rem; }
  .holder.down { background: #eceff1; color: #9aa0a6; text-decoration: line-through; }
  #drop { border: 2px dashed #b9c0c9; border-radius: 6px; padding: .8rem; text-align: center; margin: .5rem 0; background: #fff; }
  #drop.over { border-color: #3b6fd8; background: #eef3fd; }
  #drop progress { width: 100%; }
  #live-activity { list-style: none; padding: 0; margin: 0; background: #fff; border-radius: 6px; max-height: 14rem; overflow: auto; }
  #live-activity li { padding: .3rem .6rem; border-bottom: 1px solid #eef1f4; font-size: .88rem; overflow-wrap: anywhere; }
  #editor { background: #fff; border-radius: 6px; padding: .6rem; margin: .6rem 0; }
  #editor .pane { display: flex; border: 1px solid #d5dae0; border-radius: 4px; max-height: 60vh; overflow: auto; }
  #editor .gutter { padding: .4rem .4rem; text-align: right; color: #9aa0a6; background: #f3f5f7; user-select: none; white-space: pre; font: .85rem/1.4 ui-monospace, monospace; }
  #editor textarea { flex: 1; border: 0; padding: .4rem; resize: vertical; min-height: 14rem; font: .85rem/1.4 ui-monospace, monospace; white-space: pre; overflow: hidden; outline: none; }
  #editor .bar { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .4rem 0; }
  #conflict .both { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; }
  #conflict pre { background: #f6f7f9; padding: .4rem; border-radius: 4px; max-height: 40vh; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .82rem; }
  @media (max-width: 640px) {
    #conflict .both { grid-template-columns: 1fr; }
    #summary .tile { min-width: 7rem; flex-basis: 7rem; }
  }
`;

export const SECOND_SUMMARY_HTML = `
  <section id="summary" data-testid="summary" aria-label="Health"></section>
`;

export const SECOND_SECTIONS_HTML = `
  <h2>Disks</h2>
  <div id="disks" data-testid="disks"></div>
  <h2>Live: copies, transfers, servers</h2>
  <ul id="live-activity" data-testid="live-activity"></ul>
`;

/** The folder tree, the drop zone and the editor: first under the summary. */
export const SECOND_BROWSE_HTML = `
  <h2>Browse</h2>
  <div id="browse-tools">
    <nav id="crumbs" data-testid="crumbs"></nav>
    <input id="search" type="search" placeholder="search every file" data-testid="search">
    <label>sort <select id="sort" data-testid="sort"><option value="name">name</option><option value="size">size</option><option value="modified">newest</option></select></label>
  </div>
  <div id="drop" data-testid="drop">Drop files here to upload them into this folder
    <progress id="progress" max="100" value="0" hidden data-testid="progress"></progress>
    <div id="drop-said" class="muted" data-testid="drop-said"></div>
  </div>
  <div id="tree" data-testid="tree"></div>
  <section id="editor" hidden data-testid="editor">
    <div class="bar"><b id="editing"></b><span class="muted" id="edit-note"></span></div>
    <div class="pane"><div class="gutter" id="gutter">1</div><textarea id="text" spellcheck="false" data-testid="text" aria-label="File content"></textarea></div>
    <div class="bar">
      <button id="save" data-testid="save">Save</button>
      <button id="close-editor" data-testid="close-editor">Close</button>
      <span id="edit-said" data-testid="edit-said"></span>
    </div>
    <div id="conflict" hidden data-testid="conflict">
      <p class="warn" id="conflict-said"></p>
      <div class="both">
        <div><b>Theirs (the newest, <span id="theirs-version"></span>)</b><pre id="theirs" data-testid="theirs"></pre></div>
        <div><b>Yours</b><pre id="yours" data-testid="yours"></pre></div>
      </div>
      <div class="bar">
        <label>keep mine as <input id="mine-as" data-testid="mine-as"></label>
        <button id="keep-mine" data-testid="keep-mine">Keep mine under this name</button>
        <button id="start-again" data-testid="start-again">Start again from the newest</button>
      </div>
    </div>
  </section>
`;

export const SECOND_SCRIPT = `
// ---- The second edition (issue 15): summary, disks, tree, drop upload, activity, editor.
const EDITABLE_MAX_BYTES = ${EDITABLE_MAX_BYTES};
let folder = '';
const upIds = () => new Set((state.status ? state.status.servers : []).filter((s) => s.up).map((s) => s.id));
const holdersOf = (f) => [f.primary, ...f.replicas.filter((r) => r !== f.primary)];
const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
const duration = (ms) => { const s = Math.max(0, Math.round(ms / 1000)); if (s < 60) return s + ' s'; const m = Math.round(s / 60); return m < 60 ? m + ' min' : Math.round(m / 60) + ' h'; };

function renderSummary() {
  const status = state.status; const box = $('summary'); box.replaceChildren();
  const tile = (label, value, good, id) => { const t = el('div', undefined, 'tile ' + (good ? 'ok' : 'bad')); t.dataset.testid = id; t.append(el('b', value), el('span', label, 'muted')); box.append(t); };
  const up = status.servers.filter((s) => s.up).length;
  tile('servers up', up + ' / ' + status.servers.length, up === status.servers.length, 'servers-up');
  const below = status.underReplicated.length;
  let healing = '';
  if (below > 0) {
    const down = status.servers.filter((s) => !s.up && s.downForMs !== undefined);
    if (status.healAfterMs !== undefined && down.length) {
      const left = Math.max(0, status.healAfterMs - Math.max(...down.map((s) => s.downForMs)));
      healing = left > 0 ? ' · healing in ' + duration(left) : ' · healing now';
    } else if (up < status.replicas) healing = ' · too few servers up to heal';
  }
  tile('below ' + status.replicas + ' copies' + healing, String(below), below === 0, 'below');
  tile('conflicts', String(status.conflicts.length), status.conflicts.length === 0, 'conflicts');
  let scrubbed = null;
  for (const f of state.files.values()) if (f.verified && f.verified.at !== null) scrubbed = Math.max(scrubbed || 0, f.verified.at);
  if (scrubbed !== null) tile('last scrub', ago(Date.now() - scrubbed), true, 'scrub');
  const faults = status.servers.flatMap((s) => s.faults ? [('server ' + s.id + ': ' + [s.faults.cut.length ? 'cut from ' + s.faults.cut.join(', ') : '', s.faults.slowDiskMs ? 'slow disk ' + s.faults.slowDiskMs + ' ms' : ''].filter(Boolean).join(', '))] : []);
  if (faults.length) tile('faults in force', faults.join('; '), false, 'faults');
}

function renderDisks() {
  const box = $('disks'); box.replaceChildren();
  for (const s of state.status.servers) {
    const d = el('div', undefined, 'disk' + (s.up ? '' : ' down')); d.dataset.server = String(s.id);
    d.append(el('b', 'server ' + s.id + (s.up ? '' : ' (down)')));
    if (s.space) {
      const used = s.space.files + s.space.versions + s.space.trash;
      const bar = el('div', undefined, 'bar'); const fill = el('span'); fill.style.width = Math.min(100, (100 * used) / Math.max(1, used + s.space.free)).toFixed(1) + '%'; bar.append(fill);
      d.append(bar, el('div', size(used) + ' used (' + size(s.space.files) + ' files, ' + size(s.space.versions + s.space.trash) + ' versions and trash) · ' + size(s.space.free) + ' free', 'muted'));
    } else d.append(el('div', s.up ? 'disk use not reported' : 'unknown while down', 'muted'));
    box.append(d);
  }
}

function holderBadges(f) {
  const up = upIds(); const span = el('span');
  for (const id of holdersOf(f)) { const b = el('span', 'server ' + id, 'holder' + (up.has(id) ? '' : ' down')); b.title = up.has(id) ? 'up' : 'down'; b.dataset.holder = String(id); span.append(b); }
  return span;
}

function openFolder(path) {
  folder = path; renderTree();
  void act('open ' + path, () => filesUnder(path));
}

function renderTree() {
  const crumbs = $('crumbs'); crumbs.replaceChildren();
  const parts = folder ? folder.replace(/\\/$/, '').split('/') : [];
  const crumb = (label, path) => { const b = el('button', label); b.onclick = () => openFolder(path); b.dataset.crumb = path; crumbs.append(b, ' / '); };
  crumb('all files', '');
  parts.forEach((p, i) => crumb(p, parts.slice(0, i + 1).join('/') + '/'));
  const query = $('search').value.trim().toLowerCase();
  const sort = $('sort').value;
  const files = [...state.files.values()].filter((f) => !f.name.endsWith('/.lanfs-folder'));
  const order = (a, b) => sort === 'size' ? b.size - a.size : sort === 'modified' ? (a.modifiedAt < b.modifiedAt ? 1 : -1) : (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const tree = $('tree'); tree.replaceChildren();
  let shown;
  if (query) shown = files.filter((f) => f.name.toLowerCase().includes(query));
  else {
    const folders = new Map();
    shown = [];
    for (const f of files) {
      if (!f.name.startsWith(folder)) continue;
      const rest = f.name.slice(folder.length); const slash = rest.indexOf('/');
      if (slash < 0) shown.push(f);
      else { const sub = rest.slice(0, slash); const c = folders.get(sub) || { count: 0, size: 0 }; c.count++; c.size += f.size; folders.set(sub, c); }
    }
    for (const [sub, c] of [...folders.entries()].sort()) {
      const row = el('div', undefined, 'row folder'); row.dataset.folder = folder + sub + '/';
      const nm = el('span', undefined, 'nm'); const open = el('button', sub + '/'); open.onclick = () => openFolder(folder + sub + '/'); nm.append(open);
      row.append(nm, el('span', plural(c.count, 'file') + ' · ' + size(c.size), 'muted')); tree.append(row);
    }
  }
  for (const f of shown.sort(order)) {
    const row = el('div', undefined, 'row file'); row.dataset.entry = f.name;
    const label = query ? f.name : f.name.slice(folder.length);
    row.append(el('span', label + (f.available ? '' : ' (unavailable)'), 'nm'), el('span', size(f.size) + ' · v' + f.version, 'muted'), holderBadges(f));
    const open = el('button', 'open'); open.dataset.open = f.name; open.onclick = () => openEditor(f.name);
    const get = el('button', 'download'); get.onclick = () => download(f.name);
    row.append(open, get); tree.append(row);
  }
  if (!tree.children.length) tree.append(el('div', query ? 'No file matches.' : 'This folder is empty.', 'row muted'));
}

function renderSecond() {
  if (!state.status) return;
  renderSummary(); renderDisks(); renderTree();
}

// Live activity: the last events, newest first, in plain words.
const ACTIVITY_MAX = 30;
function noteActivity(type, e) {
  const words = {
    'record-changed': () => e.name + ' ' + (e.change || 'changed') + (e.record ? ' (v' + e.record.version + ')' : ''),
    'member-up': () => 'server ' + e.memberId + ' is up', 'member-down': () => 'server ' + e.memberId + ' is down',
    'copy-made': () => 'copy of ' + e.name + ' made on server ' + e.on, 'copy-missing': () => e.name + ' is missing copies',
    'conflict': () => e.name + ' kept under another name (conflict with ' + e.conflictOf + ')',
    'transfer-started': () => (e.direction === 'in' ? 'receiving ' : 'sending ') + e.name + (e.bytes !== undefined ? ' (' + size(e.bytes) + ')' : ''),
    'transfer-finished': () => (e.direction === 'in' ? 'received ' : 'sent ') + e.name,
  };
  const say = words[type]; if (!say) return;
  const li = el('li', new Date(e.at || Date.now()).toLocaleTimeString() + '  ' + say()); li.dataset.type = type;
  const list = $('live-activity'); list.prepend(li);
  while (list.children.length > ACTIVITY_MAX) list.lastChild.remove();
}

// Drag and drop: each file dropped goes into the folder shown, with a progress bar.
function putWithProgress(name, body, headers) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest(); xhr.open('PUT', fileUrl(name));
    for (const [k, v] of Object.entries({ ...auth(), ...(headers || {}) })) xhr.setRequestHeader(k, v);
    const bar = $('progress'); bar.hidden = false; bar.value = 0;
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((100 * ev.loaded) / ev.total); };
    xhr.onload = () => { bar.value = 100; resolve(xhr); };
    xhr.onerror = () => reject(new Error('the connection failed'));
    xhr.send(body);
  });
}
const drop = $('drop');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault(); drop.classList.remove('over');
  const files = [...(ev.dataTransfer ? ev.dataTransfer.files : [])];
  void act('upload', async () => {
    for (const file of files) {
      const name = folder + file.name;
      $('drop-said').textContent = 'Uploading ' + name + '…';
      const xhr = await putWithProgress(name, file);
      if (xhr.status >= 300) { let m; try { m = JSON.parse(xhr.responseText).error; } catch { m = 'answered ' + xhr.status; } $('drop-said').textContent = 'Could not upload ' + name + ': ' + m; return; }
      $('drop-said').textContent = 'Uploaded ' + name + ' (' + size(file.size) + ').';
    }
  });
});
// Search and folders see every name: with files not all read yet, the server sends those
// under the prefix typed (or the folder opened), a little after the last key.
let searchTimer;
$('search').oninput = () => {
  renderTree();
  clearTimeout(searchTimer);
  const query = $('search').value.trim();
  searchTimer = setTimeout(() => act('search', () => filesUnder(query)), 250);
};
$('sort').onchange = () => renderTree();

// The editor: text files up to EDITABLE_MAX_BYTES; the ETag read is what Save edits.
let editing = null;
function gutter() { const n = $('text').value.split('\\n').length; $('gutter').textContent = Array.from({ length: n }, (_, i) => i + 1).join('\\n'); }
$('text').oninput = gutter;
function asText(bytes) {
  if (bytes.includes(0)) return null;
  try { return new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { return null; }
}
async function readFile(name) {
  const res = await fetch(fileUrl(name) + '?proxy=1', { headers: auth(), cache: 'no-store' });
  if (!res.ok) throw new Error(await refusal(res));
  return { etag: res.headers.get('ETag'), bytes: new Uint8Array(await res.arrayBuffer()) };
}
function openEditor(name) {
  const f = state.files.get(name);
  return act('open ' + name, async () => {
    $('editor').hidden = false; $('conflict').hidden = true; $('edit-said').textContent = '';
    $('editing').textContent = name;
    if (f && f.size > EDITABLE_MAX_BYTES) { showReadOnly(name, 'larger than 1 MiB: download it, or drop a new version here to upload it.'); return; }
    const { etag, bytes } = await readFile(name);
    const text = asText(bytes);
    if (text === null) { showReadOnly(name, 'not text: download it, or drop a new version here to upload it.'); return; }
    editing = { name, etag, version: f ? f.version : undefined };
    $('text').value = text; $('text').disabled = false; $('save').hidden = false;
    $('edit-note').textContent = ' · version ' + (f ? f.version : '?'); gutter();
  });
}
function showReadOnly(name, why) {
  editing = null; $('text').value = ''; $('text').disabled = true; $('save').hidden = true; gutter();
  $('edit-note').textContent = ' · ' + why;
}
$('close-editor').onclick = () => { editing = null; $('editor').hidden = true; };
$('save').onclick = () => {
  if (!editing) return;
  const { name, etag } = editing; const text = $('text').value;
  return act('save ' + name, async () => {
    const res = await fetch(fileUrl(name), { method: 'PUT', headers: { ...auth(), 'If-Match': etag, 'Content-Type': 'text/plain; charset=utf-8' }, body: text });
    if (res.status === 412) { await showConflict(name, text, await res.json()); return; }
    if (!res.ok) { $('edit-said').textContent = await refusal(res); return; }
    const record = await res.json();
    editing = { name, etag: res.headers.get('ETag'), version: record.version };
    $('edit-note').textContent = ' · version ' + record.version;
    $('edit-said').textContent = 'Saved as version ' + record.version + '.';
  });
};
async function showConflict(name, mine, answer) {
  const newest = await readFile(name);
  $('conflict').hidden = false;
  $('conflict-said').textContent = answer.error || (name + ' changed meanwhile.');
  $('theirs-version').textContent = 'version ' + (answer.current ? answer.current.version : '?');
  $('theirs').textContent = asText(newest.bytes) ?? '(not text)';
  $('yours').textContent = mine;
  const dot = name.lastIndexOf('.'); const slash = name.lastIndexOf('/');
  $('mine-as').value = dot > slash + 1 ? name.slice(0, dot) + '.mine' + name.slice(dot) : name + '.mine';
  $('edit-said').textContent = 'Not saved: someone saved meanwhile.';
  $('keep-mine').onclick = () => act('keep your version', async () => {
    const as = $('mine-as').value.trim(); if (!as) { say('Give a name for your version.'); return; }
    const res = await fetch(fileUrl(as), { method: 'PUT', headers: auth(), body: mine });
    if (!res.ok) { $('edit-said').textContent = await refusal(res); return; }
    $('conflict').hidden = true;
    await openEditor(as);
    $('edit-said').textContent = 'Your version is kept as ' + as + '.';
  });
  $('start-again').onclick = () => act('start again', async () => {
    $('conflict').hidden = true;
    editing = { name, etag: newest.etag, version: answer.current ? answer.current.version : undefined };
    $('text').value = asText(newest.bytes) ?? ''; gutter();
    $('edit-note').textContent = ' · version ' + (answer.current ? answer.current.version : '?');
    $('edit-said').textContent = 'Started again from the newest version.';
  });
}
`;
