/** Why: nginx and haproxy as bench targets: found on the machine, configured in a temp dir, unable to outlive the bench. */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProxyCommand } from './targets.ts';

export const PEER_BINARIES = ['nginx', 'haproxy'] as const;
export type PeerBinary = (typeof PEER_BINARIES)[number];

/** Tunnels a peer must hold at once (the bench's many-tunnels phase opens 10 000); each is two sockets. */
const PEER_TUNNELS = 10_240;
/** Descriptors a peer needs besides its tunnels' sockets: listener, logs, epoll, HAProxy's own reserve. */
const SPARE_FDS = 64;

/** Where a peer binary is: PATH, then the sbin directories a user's PATH often lacks. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find((file) => existsSync(file));
}

/** Why `name` cannot run here, or undefined when it can. */
export function peerUnavailable(name: PeerBinary): string | undefined {
  if (process.platform !== 'linux') return `${name} targets run on Linux only`;
  if (findBinary('setpriv') === undefined || findBinary('prlimit') === undefined)
    return 'setpriv and prlimit (util-linux) are needed to tie the peer to the bench';
  if (findBinary(name) === undefined)
    return `${name} is not installed (pnpm bench --install-peers installs it)`;
  return undefined;
}

/** `name` and its version from `name -v` (nginx writes it to stderr, haproxy to stdout), for the report. */
export function peerVersion(name: PeerBinary): string {
  const binary = findBinary(name);
  if (binary === undefined) return name;
  const { stdout, stderr } = spawnSync(binary, ['-v'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const version = /\d+\.\d+\.\d+\S*/.exec(`${stdout ?? ''}${stderr ?? ''}`)?.[0];
  return version === undefined ? name : `${name} ${version}`;
}

/**
 * The command that runs `binary` with `args`: setpriv gives it SIGTERM when the bench dies (even by SIGKILL), prlimit
 * gives it `fds` open files. Both exec, so the pid the bench measures is the server's own.
 */
function tied(binary: PeerBinary, fds: number, args: readonly string[]): ProxyCommand {
  return {
    command: findBinary('setpriv') ?? 'setpriv',
    args: [
      '--pdeathsig',
      'TERM',
      '--',
      findBinary('prlimit') ?? 'prlimit',
      `--nofile=${fds}:${fds}`,
      '--',
      findBinary(binary) ?? binary,
      ...args,
    ],
  };
}

/** Open files a peer gets: what its tunnels need, within this process's hard limit, the one every Node target has. */
function fdBudget(): number {
  return Math.min(hardFdLimit(), 2 * PEER_TUNNELS + SPARE_FDS);
}

/** The hard RLIMIT_NOFILE of this process, from /proc/self/limits. */
function hardFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'latin1')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  if (hard === 'unlimited') return Number.MAX_SAFE_INTEGER;
  const value = Number(hard);
  if (!Number.isInteger(value) || value <= 0) throw new Error('cannot read the open files limit');
  return value;
}

let configDir: string | undefined;

/**
 * The bench's own temp dir for peer configs, pid files and temp paths, named after the bench's pid; removed when the
 * bench exits, or by the next bench when this one was SIGKILLed.
 */
function peerDir(): string {
  if (configDir === undefined) {
    removeStaleDirs();
    const dir = mkdtempSync(join(tmpdir(), `wstunnel-bench-${process.pid}-`));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    configDir = dir;
  }
  return configDir;
}

/** Removes the peer dirs of benches that are no longer running. */
function removeStaleDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    const pid = /^wstunnel-bench-(\d+)-/.exec(entry)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`))
      rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/**
 * nginx as one process (master_process off): a SIGKILLed master would leave its worker running, and the bench
 * SIGKILLs what does not stop in time. worker_rlimit_nofile only applies to workers, hence prlimit.
 */
export function nginxCommand(port: number, backendPort: number): ProxyCommand {
  const dir = peerDir();
  const fds = fdBudget();
  const config = join(dir, `nginx-${port}.conf`);
  writeFileSync(
    config,
    `daemon off;
master_process off;
pid ${join(dir, `nginx-${port}.pid`)};
error_log stderr error;

events {
  worker_connections ${2 * PEER_TUNNELS + SPARE_FDS};
}

http {
  access_log off;
  client_body_temp_path ${join(dir, 'nginx-body')};
  proxy_temp_path ${join(dir, 'nginx-proxy')};
  fastcgi_temp_path ${join(dir, 'nginx-fastcgi')};
  uwsgi_temp_path ${join(dir, 'nginx-uwsgi')};
  scgi_temp_path ${join(dir, 'nginx-scgi')};

  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  server {
    listen 127.0.0.1:${port};

    location /ws/ {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
    }
  }
}
`,
  );
  return tied('nginx', fds, ['-e', 'stderr', '-p', dir, '-c', config]);
}

/** HAProxy in the foreground (-db), one thread; maxconn counts client connections and HAProxy reserves 2 fds for each. */
export function haproxyCommand(port: number, backendPort: number): ProxyCommand {
  const fds = fdBudget();
  const config = join(peerDir(), `haproxy-${port}.cfg`);
  writeFileSync(
    config,
    `global
  nbthread 1
  maxconn ${Math.floor((fds - SPARE_FDS) / 2)}
  ulimit-n ${fds}

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 3600s

frontend bench
  bind 127.0.0.1:${port}
  use_backend echo if { path_beg /ws/ }

backend echo
  server echo 127.0.0.1:${backendPort}
`,
  );
  return tied('haproxy', fds, ['-db', '-f', config]);
}
