/**
 * The dashboard's panes for issue 14, kept apart from the page so the page can
 * change around them: a file's history (its kept versions, each downloadable and
 * restorable), the trash (every live server's, each entry undeletable), bursts of
 * deletes with the command that undoes them, each server's space (bytes in
 * files, versions, trash; free disk), who edits a file, and a feed of restores,
 * trash moves and edit leases as they happen. dashboard-page.ts includes the
 * markup and the script, and calls four hooks: keptRow(file, tr, actions) for
 * each file row, keptRender(status) after each render, keptEvent(type, event)
 * for each event, and keptStart() after each snapshot. The script uses the
 * page's helpers and state ($, el, auth, act, say, refusal, fileUrl, size,
 * render, state).
 */

/** The panes; placed by the page after its files table. */
export const KEPT_PANES_HTML = `
  <div id="bursts" data-testid="bursts"></div>
  <section id="history-pane" hidden data-testid="history-pane">
    <h2>History of <span id="history-name"></span> <button id="history-close" type="button">close</button></h2>
    <table><thead><tr><th>Version</th><th>Size</th><th>Written</th><th>By</th><th class="wide">sha256</th><th></th></tr></thead>
    <tbody id="history" data-testid="history"></tbody></table>
  </section>
  <h2>Trash</h2>
  <table id="trash-table"><thead><tr><th>Name</th><th>Size</th><th>Deleted</th><th>By</th><th>On</th><th></th></tr></thead>
  <tbody id="trash" data-testid="trash"></tbody></table>
  <h2>Activity</h2>
  <ul id="activity" class="muted" data-testid="activity"></ul>`;

/** The script of the panes (inside the page's script, after its helpers). */
export const KEPT_PANES_SCRIPT = `
// ---- Issue 14: history, trash, bursts, space, leases, activity (web/dashboard-kept.ts) ----
let historyOf = null;
const when = (ms) => new Date(ms).toLocaleString();
const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

async function getJson(url) {
  const res = await fetch(url, { headers: auth(), cache: 'no-store' });
  if (!res.ok) throw new Error(await refusal(res));
  return await res.json();
}

function keptRow(f, tr, actions) {
  const hist = el('button', 'history'); hist.onclick = () => showHistory(f.name);
  actions.append(' ', hist);
  if (f.editing) {
    const name = tr.querySelector('td.name');
    if (name) name.append(el('div', 'being edited on ' + f.editing.host + ' since ' + hhmm(f.editing.since), 'muted'));
  }
}

function keptRender(status) {
  // Each server's space, in its row of the servers table.
  for (const s of status.servers) {
    const tr = document.querySelector('[data-server="' + s.id + '"]');
    if (!tr || !s.space) continue;
    const td = el('td', size(s.space.files) + ' in files · ' + size(s.space.versions) + ' versions · ' + size(s.space.trash) + ' trash · ' + size(s.space.free) + ' free', 'muted');
    td.dataset.label = 'Space';
    tr.append(td);
  }
  const bursts = $('bursts'); bursts.replaceChildren();
  for (const s of status.servers)
    for (const b of s.deleteBursts || []) {
      const div = el('div', undefined, 'warn');
      div.append(el('span', 'A burst of ' + b.deletes + ' deletes from ' + b.host + ' (' + when(b.since) + ') went to the trash, whatever they asked. Undo with: '), el('code', b.undo));
      bursts.append(div);
    }
}

async function showHistory(name) {
  return act('show the history of ' + name, async () => {
    const lines = await getJson('/api/history/' + name.split('/').map(encodeURIComponent).join('/'));
    historyOf = name;
    $('history-name').textContent = name;
    const body = $('history'); body.replaceChildren();
    for (const l of lines) {
      const tr = el('tr'); tr.dataset.version = String(l.version);
      const actions = el('td', undefined, 'actions');
      const get = el('button', 'download'); get.onclick = () => downloadVersion(name, l.version);
      actions.append(get);
      if (!l.current) {
        const back = el('button', 'restore'); back.onclick = () => restore(name, l.version);
        actions.append(' ', back);
      }
      tr.append(el('td', 'v' + l.version + (l.current ? ' (current)' : '')), el('td', size(l.size)), el('td', when(l.modifiedAt)),
        el('td', l.writtenBy || '—'), el('td', l.sha256.slice(0, 16) + '…', 'wide muted'), actions);
      body.append(tr);
    }
    $('history-pane').hidden = false;
  });
}
$('history-close').onclick = () => { historyOf = null; $('history-pane').hidden = true; };

function downloadVersion(name, version) {
  return act('download version ' + version + ' of ' + name, async () => {
    const res = await fetch(fileUrl(name) + '?proxy=1&version=' + version, { headers: auth() });
    if (!res.ok) { say(await refusal(res)); return; }
    const link = el('a'); link.href = URL.createObjectURL(await res.blob()); link.download = name.split('/').pop();
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  });
}

function restore(name, version) {
  if (!confirm('Make version ' + version + ' of ' + name + ' its newest version? (The current one stays in its history.)')) return;
  return act('restore ' + name, async () => {
    const res = await fetch('/api/restore/' + name.split('/').map(encodeURIComponent).join('/'), {
      method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ version }),
    });
    if (!res.ok) { say(await refusal(res)); return; }
    await showHistory(name);
  });
}

// Loads overlap (an event and an undelete both ask): only the newest one's answer is shown.
let trashAsked = 0;
async function loadTrash() {
  const asked = ++trashAsked;
  const items = await getJson('/api/trash');
  if (asked !== trashAsked) return;
  const body = $('trash'); body.replaceChildren();
  if (!items.length) { const tr = el('tr'); const td = el('td', 'The trash is empty.', 'muted'); td.colSpan = 6; tr.append(td); body.append(tr); }
  for (const i of items) {
    const tr = el('tr'); tr.dataset.trash = i.name;
    const back = el('button', 'undelete'); back.onclick = () => undelete(i.name);
    const actions = el('td', undefined, 'actions'); actions.append(back);
    tr.append(el('td', i.name + ' (v' + i.version + ')', 'name'), el('td', size(i.size)), el('td', when(i.deletedAt)),
      el('td', i.deletedBy || '—'), el('td', i.servers.map((s) => 'server ' + s).join(', ')), actions);
    body.append(tr);
  }
}

function undelete(name) {
  return act('undelete ' + name, async () => {
    const path = '/api/undelete/' + name.split('/').map(encodeURIComponent).join('/');
    let res = await fetch(path, { method: 'POST', headers: auth() });
    if (res.status === 409) {
      const as = prompt(name + ' exists again. Bring the deleted one back under another name:', name + '.undeleted');
      if (!as) return;
      res = await fetch(path, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ as }) });
    }
    if (!res.ok) { say(await refusal(res)); return; }
    await loadTrash();
  });
}

const FEED = {
  restored: (e) => 'restored ' + e.name + ' version ' + e.from + ' as v' + e.version + (e.host ? ' (' + e.host + ')' : ''),
  trashed: (e) => 'moved ' + e.name + ' to the trash' + (e.host ? ' (' + e.host + ')' : ''),
  purged: (e) => 'deleted ' + e.name + ' for good (purge)' + (e.host ? ' (' + e.host + ')' : ''),
  undeleted: (e) => 'brought back ' + e.name + (e.was ? ' (deleted as ' + e.was + ')' : ''),
  'lease-taken': (e) => e.name + ' is being edited on ' + e.host,
  'lease-released': (e) => e.name + ': the edit on ' + e.host + ' ended',
  'lease-expired': (e) => e.name + ': the edit on ' + e.host + ' stopped answering (lease expired)',
  'delete-burst': (e) => 'a burst of ' + e.deletes + ' deletes from ' + e.host + '; undo with: ' + e.undo,
};

function keptEvent(type, event) {
  const line = FEED[type];
  if (!line) return;
  const feed = $('activity');
  feed.prepend(el('li', new Date(event.at).toLocaleTimeString() + '  ' + line(event)));
  while (feed.children.length > 50) feed.lastChild.remove();
  if (type === 'trashed' || type === 'purged' || type === 'undeleted') void loadTrash().catch(() => undefined);
  // A file back under a name in the trash: the server that kept it may have answered
  // before it heard (its entry is hidden once the file is back), so ask again now.
  if (type === 'record-changed' && event.record && document.querySelector('tr[data-trash="' + CSS.escape(event.name) + '"]'))
    void loadTrash().catch(() => undefined);
  if (type === 'restored' && historyOf === event.name) void showHistory(event.name);
  // Leases and bursts are in /api/files and /api/status: read them once.
  if (type.startsWith('lease-') || type === 'delete-burst') keptStart();
}

// The event stream's snapshot has this server's own space and no leases: the other
// servers' space, the bursts and who edits what come from /api/status and /api/files.
// One read at a time; an event during a read asks for one more after it, since the
// read in flight may have been answered before what the event tells (a lease taken).
let keptLoading = false;
let keptAgain = false;
function keptStart() {
  void loadTrash().catch(() => undefined);
  if (keptLoading) { keptAgain = true; return; }
  keptLoading = true;
  keptAgain = false;
  Promise.all([getJson('/api/status'), getJson('/api/files')]).then(([status, files]) => {
    if (!state.status) return;
    for (const s of state.status.servers) {
      const theirs = status.servers.find((x) => x.id === s.id);
      if (theirs) { s.space = theirs.space; s.deleteBursts = theirs.deleteBursts; }
    }
    for (const f of files) { const mine = state.files.get(f.name); if (mine) mine.editing = f.editing; }
    render();
  }).catch(() => undefined).finally(() => {
    keptLoading = false;
    if (keptAgain) keptStart();
  });
}
`;
