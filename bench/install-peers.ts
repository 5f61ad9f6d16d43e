/** Why: `pnpm bench --install-peers` installs the non-Node peers (nginx, haproxy) from Debian without leaving their system services running. */

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { findBinary, PEER_BINARIES } from './peers.ts';

/** Debian package of each peer binary: plain `nginx` is in every release, its flavours (nginx-light, -core) come and go. */
const PACKAGES = ['nginx', 'haproxy'] as const;

/**
 * Runs as root (or through sudo): apt-get update, then the install with a policy-rc.d that forbids starting services
 * (unless the machine already has one); restores the machine's policy-rc.d state afterwards.
 */
const INSTALL_SCRIPT = `set -e
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\\nexit 101\\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"`;

/**
 * Installs nginx and haproxy with apt-get; throws when that cannot be done. A fresh install's system services are
 * disabled at boot, and stopped should a postinst have started them despite policy-rc.d.
 */
export function installPeers(): void {
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get'))
    throw new Error(
      '--install-peers needs a Debian-based Linux (apt-get); install nginx and haproxy by hand',
    );
  const sudo = process.getuid?.() === 0 ? [] : [sudoOrThrow()];
  const fresh = PEER_BINARIES.filter((name) => findBinary(name) === undefined);
  const before = runningServers();
  run([...sudo, 'sh', '-c', INSTALL_SCRIPT, 'install-peers', ...PACKAGES]);
  const systemd = existsSync('/run/systemd/system');
  for (const name of fresh) {
    try {
      run([...sudo, ...(systemd ? ['systemctl', 'disable', name] : ['update-rc.d', name, 'disable'])]);
    } catch {
      // Only boot-time start is at stake; the bench itself does not depend on it.
    }
  }
  const started = runningServers().filter((pid) => !before.includes(pid));
  if (started.length > 0) stopServices(sudo, systemd, started);
  for (const binary of PEER_BINARIES)
    if (findBinary(binary) === undefined) throw new Error(`${binary} is still not found after the install`);
}

function run([command, ...args]: readonly string[]): void {
  execFileSync(command!, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function sudoOrThrow(): string {
  try {
    execFileSync('sh', ['-c', 'command -v sudo'], { stdio: 'ignore' });
  } catch {
    throw new Error('--install-peers needs root: run it as root, or install sudo');
  }
  return 'sudo';
}

/** Stops the nginx and haproxy system services (a postinst that ignored policy-rc.d), then checks `started` are gone. */
function stopServices(sudo: readonly string[], systemd: boolean, started: readonly number[]): void {
  for (const name of PEER_BINARIES) {
    try {
      run([...sudo, ...(systemd ? ['systemctl', 'stop', name] : ['service', name, 'stop'])]);
    } catch {
      // Checked below: what matters is that no server the install started is left running.
    }
  }
  const left = runningServers().filter((pid) => started.includes(pid));
  if (left.length > 0)
    throw new Error(`the install started system nginx/haproxy that would not stop (pids ${left.join(', ')})`);
}

/** Pids of every running nginx or haproxy process (the bench's own are not running yet). */
function runningServers(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if ((PEER_BINARIES as readonly string[]).includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()))
        pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}
