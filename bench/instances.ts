/** Why: the backend and each proxy target run as child processes; this starts them (a target may get a second, fresh instance) and stops one. */

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { alive, freePort, startChild, waitForPort } from './children.ts';
import type { Endpoint, Pids } from './protocol.ts';
import { type Target, UPGRADE_PATH } from './targets.ts';
import type { FreshProxy } from './visit.ts';

const STARTUP_TIMEOUT_MS = 15_000;
/** How long a fresh proxy instance gets to exit on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;

/** A target with its process (if any) started and listening. */
export interface Running {
  readonly target: Target;
  readonly child: ChildProcess | undefined;
  readonly endpoint: Endpoint;
  readonly pids: Pids;
}

/** Starts the echo backend listening on `count` ports (one process, so its CPU is measured as one). */
export async function startBackend(count: number): Promise<{ child: ChildProcess; ports: number[] }> {
  const file = fileURLToPath(new URL('./echo-backend.ts', import.meta.url));
  const child = startChild('echo-backend', process.execPath, [file, String(count)], true);
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo-backend did not start')), STARTUP_TIMEOUT_MS);
    child.once('message', (message: { ports: number[] }) => {
      clearTimeout(timer);
      resolve(message.ports);
    });
    child.once('exit', (code) => reject(new Error(`echo-backend exited (${code})`)));
  });
  return { child, ports };
}

export async function startTarget(
  target: Target,
  backend: ChildProcess,
  backendPort: number,
  dist: boolean,
): Promise<Running> {
  const backendPid = backend.pid!;
  if (target.start === null) {
    return {
      target,
      child: undefined,
      endpoint: { port: backendPort, path: UPGRADE_PATH },
      pids: { proxy: null, backend: backendPid },
    };
  }
  const port = await freePort();
  const { command, args } = target.start({ port, backendPort, dist });
  const child = startChild(target.name, command, args);
  await waitForPort(target.name, child, port, STARTUP_TIMEOUT_MS);
  return {
    target,
    child,
    endpoint: { port, path: UPGRADE_PATH },
    pids: { proxy: child.pid!, backend: backendPid },
  };
}

/** Starts another instance of a proxy target (new port, new process) with a way to stop it. */
export async function startFresh(
  target: Target,
  backend: ChildProcess,
  backendPort: number,
  dist: boolean,
): Promise<FreshProxy> {
  const { child, endpoint, pids } = await startTarget(target, backend, backendPort, dist);
  return { endpoint, pids, stop: () => stopChild(child!) };
}

/** SIGTERM, then SIGKILL if the child has not exited within the grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (!alive(child)) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
  });
  const outcome = await Promise.race([exited, grace]);
  clearTimeout(timer);
  if (outcome === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}
