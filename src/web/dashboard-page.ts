/**
 * The dashboard: one small page, no build step and nothing from the internet.
 * It asks for the cluster key once (kept for the browser session, never put in a
 * URL), follows /api/events for live snapshots, and uploads, downloads and
 * deletes through /files/NAME with the key in the Authorization header.
 */
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
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e3e6ea; font-size: .92rem; word-break: break-all; }
  th { background: #eef1f4; font-weight: 600; }
  .up { color: #137333; font-weight: 600; } .down { color: #b3261e; font-weight: 600; }
  .muted { color: #6b7380; } .warn { background: #fff4e5; padding: .6rem; border-radius: 6px; }
  button, input[type=submit] { padding: .3rem .7rem; border: 1px solid #b9c0c9; border-radius: 5px; background: #fff; cursor: pointer; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; background: #fff; padding: .6rem; border-radius: 6px; }
  #error { color: #b3261e; min-height: 1.2em; }
  @media (max-width: 640px) { .wide { display: none; } }
</style>
</head>
<body>
<h1>lanfs <span class="muted" id="where"></span></h1>
<form id="login" hidden>
  <label>Cluster key <input id="key" type="password" autocomplete="current-password" data-testid="key"></label>
  <input type="submit" value="Open">
</form>
<div id="error" role="alert"></div>
<main id="main" hidden>
  <div id="insecure" class="warn" hidden>This cluster runs without a key: anyone on the LAN can read and change its files.</div>
  <h2>Servers</h2>
  <table><thead><tr><th>Id</th><th>Address</th><th>State</th><th>Files</th></tr></thead><tbody id="servers" data-testid="servers"></tbody></table>
  <h2>Files</h2>
  <form id="upload">
    <input id="file" type="file" data-testid="file">
    <label>as <input id="name" placeholder="name (default: the file's name)" data-testid="name"></label>
    <input type="submit" value="Upload" data-testid="upload">
  </form>
  <table><thead><tr><th>Name</th><th>Size</th><th>Version</th><th>Primary</th><th>Copies</th><th class="wide">sha256</th><th></th></tr></thead>
  <tbody id="files" data-testid="files"></tbody></table>
  <div id="health"></div>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem('lanfs-key') || '';
const auth = () => (key ? { Authorization: 'Bearer ' + key } : {});
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const size = (n) => n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : n < 1073741824 ? (n / 1048576).toFixed(1) + ' MiB' : (n / 1073741824).toFixed(2) + ' GiB';
const fileUrl = (name) => '/files/' + name.split('/').map(encodeURIComponent).join('/');
function say(message) { $('error').textContent = message || ''; }

function render(snapshot) {
  const { status, files } = snapshot;
  $('where').textContent = '· server ' + status.connectedTo + ' · ' + status.replicas + ' copies per file';
  $('insecure').hidden = !status.insecure;
  const servers = $('servers'); servers.replaceChildren();
  for (const s of status.servers) {
    const tr = el('tr'); tr.dataset.server = String(s.id);
    tr.append(el('td', String(s.id)), el('td', s.address), el('td', s.up ? 'up' : 'down', s.up ? 'up' : 'down'), el('td', String(s.files)));
    servers.append(tr);
  }
  const body = $('files'); body.replaceChildren();
  for (const f of files) {
    const tr = el('tr'); tr.dataset.file = f.name;
    const get = el('button', 'download'); get.onclick = () => download(f.name);
    const del = el('button', 'delete'); del.onclick = () => remove(f.name);
    const actions = el('td'); actions.append(get, ' ', del);
    tr.append(el('td', f.name + (f.available ? '' : ' (unavailable)')), el('td', size(f.size)), el('td', 'v' + f.version),
      el('td', 'server ' + f.primary), el('td', f.replicas.length ? f.replicas.map((r) => 'server ' + r).join(', ') : '—'),
      el('td', f.sha256.slice(0, 16) + '…', 'wide muted'), actions);
    body.append(tr);
  }
  const health = $('health'); health.replaceChildren();
  if (status.underReplicated.length) {
    health.append(el('h2', 'Below ' + status.replicas + ' copies'));
    const ul = el('ul'); for (const n of status.underReplicated) ul.append(el('li', n)); health.append(ul);
  }
  if (status.conflicts.length) {
    health.append(el('h2', 'Conflicts (kept under another name)'));
    const ul = el('ul'); for (const c of status.conflicts) ul.append(el('li', c.name + ' — lost the name ' + c.conflictOf)); health.append(ul);
  }
}

async function follow() {
  for (;;) {
    try {
      const res = await fetch('/api/events', { headers: auth() });
      if (res.status === 401) { showLogin('That key was refused; try again.'); return; }
      $('login').hidden = true; $('main').hidden = false; say('');
      const reader = res.body.getReader(); const decoder = new TextDecoder(); let buffer = '';
      for (;;) {
        const { value, done } = await reader.read(); if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut; while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
          const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          if (event.startsWith('data: ')) render(JSON.parse(event.slice(6)));
        }
      }
    } catch { say('Lost the server; trying again…'); }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function download(name) {
  const res = await fetch(fileUrl(name), { headers: auth() });
  if (!res.ok) { say((await res.json()).error); return; }
  const link = el('a'); link.href = URL.createObjectURL(await res.blob()); link.download = name.split('/').pop();
  document.body.append(link); link.click(); link.remove();
}

async function remove(name) {
  if (!confirm('Delete ' + name + ' from every server?')) return;
  const res = await fetch(fileUrl(name), { method: 'DELETE', headers: auth() });
  say(res.ok ? '' : (await res.json()).error);
}

$('upload').onsubmit = async (event) => {
  event.preventDefault();
  const file = $('file').files[0]; if (!file) { say('Choose a file first.'); return; }
  const name = $('name').value.trim() || file.name;
  const res = await fetch(fileUrl(name), { method: 'PUT', headers: auth(), body: file });
  say(res.ok ? '' : (await res.json()).error);
  if (res.ok) { $('upload').reset(); }
};

function showLogin(message) { $('main').hidden = true; $('login').hidden = false; say(message); }
$('login').onsubmit = (event) => { event.preventDefault(); key = $('key').value; sessionStorage.setItem('lanfs-key', key); void follow(); };
void (async () => {
  const res = await fetch('/api/status', { headers: auth() });
  if (res.status === 401) showLogin(key ? 'That key was refused; try again.' : ''); else void follow();
})();
</script>
</body>
</html>
`;
