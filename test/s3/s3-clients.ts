/**
 * Real S3 clients nobody here wrote, for the S3 tests: Debian's aws-cli (by full
 * path: another `aws` may come first on PATH), s3cmd and rclone, each run with a
 * configuration of the test's own in a temp folder (no ~/.aws, no ~/.s3cfg, no
 * rclone.conf), a bounded time, and the endpoint of one server:
 * `http://127.0.0.1:HTTPPORT`. AWS_CA_BUNDLE, which this machine may set, is
 * left out: rclone refuses to start when it names a file it cannot use.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp-dir.ts';

export const AWS = '/usr/bin/aws';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeout = 60_000,
): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(
      command,
      args,
      { env, timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/** Runs a client and fails the test, with its stderr, unless it exits 0. */
export async function ok(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const result = await run(command, args, env);
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`,
  );
  return result;
}

/** An environment with nothing of the machine's but PATH, in a home of the test's own. */
async function baseEnv(t: Cleanup): Promise<{ home: string; env: NodeJS.ProcessEnv }> {
  const home = await tempDir(t, 'lanfs-s3-client-');
  return { home, env: { PATH: process.env.PATH, HOME: home, TMPDIR: home, LANG: 'C.UTF-8' } };
}

/** aws-cli with access key lanfs and the cluster key as the secret; call with --endpoint-url. */
export async function awsEnv(t: Cleanup, secret: string): Promise<NodeJS.ProcessEnv> {
  const { home, env } = await baseEnv(t);
  await writeFile(join(home, 'config'), '[default]\nregion = us-east-1\n');
  await writeFile(join(home, 'credentials'), '');
  return {
    ...env,
    AWS_CONFIG_FILE: join(home, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
    AWS_ACCESS_KEY_ID: 'lanfs',
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}

/** aws-cli against one server's HTTP port. */
export function aws(env: NodeJS.ProcessEnv, httpPort: number) {
  const args = (rest: string[]): string[] => [
    '--endpoint-url',
    `http://127.0.0.1:${httpPort}`,
    ...rest,
  ];
  return {
    ok: (...rest: string[]) => ok(AWS, args(rest), env),
    run: (...rest: string[]) => run(AWS, args(rest), env),
  };
}

/** s3cmd with a config file of its own pointing at one server's HTTP port. */
export async function s3cmd(t: Cleanup, secret: string, httpPort: number) {
  const { home, env } = await baseEnv(t);
  const config = join(home, 's3cfg');
  await writeFile(
    config,
    [
      '[default]',
      'access_key = lanfs',
      `secret_key = ${secret}`,
      `host_base = 127.0.0.1:${httpPort}`,
      `host_bucket = 127.0.0.1:${httpPort}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      '',
    ].join('\n'),
  );
  return {
    ok: (...rest: string[]) => ok('s3cmd', ['-c', config, '--no-progress', ...rest], env),
  };
}

/** rclone with remotes s1, s2, s3 (the S3 endpoints of each server), by environment only. */
export async function rcloneEnv(
  t: Cleanup,
  secret: string,
  httpPorts: number[],
): Promise<NodeJS.ProcessEnv> {
  const { env } = await baseEnv(t);
  const all: NodeJS.ProcessEnv = { ...env, RCLONE_CONFIG: '/dev/null' };
  httpPorts.forEach((port, i) => {
    const remote = `RCLONE_CONFIG_S${i + 1}_`;
    all[`${remote}TYPE`] = 's3';
    all[`${remote}PROVIDER`] = 'Other';
    all[`${remote}ENDPOINT`] = `http://127.0.0.1:${port}`;
    all[`${remote}ACCESS_KEY_ID`] = 'lanfs';
    all[`${remote}SECRET_ACCESS_KEY`] = secret;
  });
  return all;
}

export async function rclone(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return await ok(
    'rclone',
    ['--config', '/dev/null', '-q', '--transfers', '4', '--checkers', '4', ...args],
    env,
  );
}
