/**
 * nginx as a reference for the core bench: its own instance on 127.0.0.1, on a
 * free port, with its own config in a temp folder (WebDAV PUT into that folder,
 * plain GET from it), stopped at the end. Never installed by the bench: when no
 * `nginx` is on the PATH (or in /usr/sbin), or BENCH_NGINX=none, startNginx
 * returns undefined.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { findProgram, track, waitExit } from './lib.ts';

export interface Nginx {
  /** e.g. http://127.0.0.1:PORT/ — files are PUT and GET under it. */
  base: string;
  version: string;
  stop: () => Promise<void>;
}

/** BENCH_NGINX: the nginx binary to use, or "none" to skip the nginx rows. */
export function findNginx(): string | undefined {
  const given = process.env.BENCH_NGINX;
  if (given) return given === 'none' ? undefined : given;
  return findProgram('nginx');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function config(prefix: string, port: number): string {
  const runAsRoot = process.getuid?.() === 0;
  return `# lanfs bench: a private nginx, WebDAV PUT and GET on ${prefix}/root
daemon off;
master_process on;
worker_processes 2;
${runAsRoot ? 'user root;' : ''}
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${prefix}/root;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 1m;
    }
  }
}
`;
}

/** Starts nginx in prefix (an empty temp folder); undefined when nginx is not installed. */
export async function startNginx(prefix: string): Promise<Nginx | undefined> {
  const bin = findNginx();
  if (!bin) return undefined;
  const version = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr.trim();
  await mkdir(join(prefix, 'root'), { recursive: true });
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    await writeFile(conf, config(prefix, port));
    // -e: the error log before the config is read (else /var/log/nginx/error.log).
    const child = track(
      spawn(bin, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
      'SIGTERM',
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = performance.now() + 5000;
    let up = false;
    while (!up && performance.now() < deadline && child.exitCode === null) {
      up = await canConnect(port);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    if (up)
      return {
        base: `http://127.0.0.1:${port}/`,
        version,
        // SIGTERM: fast shutdown of the master and its workers (SIGKILL would orphan the workers).
        stop: async () => {
          child.kill('SIGTERM');
          await waitExit(child, 5000);
        },
      };
    child.kill('SIGTERM');
    await waitExit(child, 5000);
    lastError = stderr.trim() || `no answer on port ${port}`;
  }
  throw new Error(`bench: nginx did not start: ${lastError}`);
}
