/** Why: every process the bench starts is registered here, so none outlives the run however it ends (done, error, SIGINT). */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

const children = new Set<ChildProcess>();
/** How long a child gets to exit on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** Polling interval and bound while waiting for a child's port. */
const PORT_POLL_MS = 50;

/**
 * Starts a registered child; `ipc` adds an IPC channel (our own programs), stderr is always shown. stdin is a
 * pipe that closes when the bench dies, even by SIGKILL, so programs that watch it (servers/exit-with-parent.ts) exit too.
 */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  ipc = false,
): ChildProcess {
  const child = spawn(command, args, {
    stdio: ipc ? ['pipe', 'ignore', 'inherit', 'ipc'] : ['pipe', 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', (error) => process.stderr.write(`bench: ${name}: ${error.message}\n`));
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
  return child;
}

/** Whether `child` is still running. */
export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM every child, then SIGKILL what has not exited after a grace period. */
export async function stopAll(): Promise<void> {
  const running = [...children].filter(alive);
  for (const child of running) child.kill('SIGTERM');
  const exited = Promise.all(running.map((child) => (alive(child) ? once(child, 'exit') : undefined)));
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, STOP_GRACE_MS);
  });
  await Promise.race([exited, grace]);
  clearTimeout(timer);
  killAllNow();
}

/** SIGKILL every child still running; synchronous, for `process.on('exit')`. */
export function killAllNow(): void {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects if `child` exits or `timeoutMs` passes. */
export async function waitForPort(
  name: string,
  child: ChildProcess,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const attempts = Math.ceil(timeoutMs / PORT_POLL_MS);
  for (let i = 0; i < attempts; i++) {
    if (!alive(child))
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before listening`);
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, PORT_POLL_MS));
  }
  throw new Error(`${name} did not listen on port ${port} within ${timeoutMs} ms`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
