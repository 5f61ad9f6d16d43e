/** Why: proxy memory per idle tunnel, read from the kernel with thousands of live (echo-verified) tunnels open, as many as the fd limit allows. */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CLIENT_FRAME_BYTES, openTunnel, ReplyReader, STEP_TIMEOUT_MS, writeMessage } from './client.ts';
import { measureCpu, result } from './measure.ts';
import { openFileCounts, openFilesLimit, treeRssKiB } from './proc-memory.ts';
import type { Endpoint, IdleRss, IdleRssPhase, IdleRssStep, PhaseResult } from './protocol.ts';
import { upgradeRequest } from './ws-wire.ts';

/** File descriptors left free in each process for its listener, logs, libraries. */
const FD_MARGIN = 100;
/** A proxy holds two descriptors per tunnel (client and backend side). */
const PROXY_FDS_PER_TUNNEL = 2;
/** RSS settles when two samples this far apart differ by less than this share, or after this many samples. */
const SETTLE_FIRST_WAIT_MS = 300;
const SETTLE_SAMPLE_MS = 100;
const SETTLE_TOLERANCE = 0.01;
const SETTLE_MAX_SAMPLES = 10;

/** An open tunnel that must stay open and silent until the phase echoes on it. */
interface IdleTunnel {
  readonly socket: Socket;
  readonly conn: number;
  /** Why the tunnel ended early, once it has. */
  lost: string | undefined;
  readonly stopWatching: () => void;
}

export async function runIdleRss(phase: IdleRssPhase): Promise<PhaseResult> {
  const proxy = phase.pids.proxy;
  if (proxy === null) throw new Error('idle-rss: measures a proxy; `direct` has none');
  const { soft: fdLimit, hard: fdHardLimit } = openFilesLimit(proxy);
  const feasibleTunnels = Math.min(
    Math.floor((fdLimit - FD_MARGIN) / PROXY_FDS_PER_TUNNEL),
    openFilesLimit(process.pid).soft - FD_MARGIN,
    openFilesLimit(phase.pids.backend).soft - FD_MARGIN,
  );
  const request = upgradeRequest(`127.0.0.1:${phase.endpoint.port}`, phase.endpoint.path);
  const primed: IdleTunnel[] = [];
  const tunnels: IdleTunnel[] = [];
  const stopCpu = measureCpu(phase.pids);
  const start = performance.now();
  try {
    await openUpTo(phase, request, primed, phase.primeTunnels, fdLimit);
    await echoOnEvery(primed);
    await closeAll(primed);
    const baselineKiB = await settledRssKiB(proxy, SETTLE_FIRST_WAIT_MS);
    const steps: IdleRssStep[] = [];
    for (const requested of phase.counts) {
      const count = Math.min(requested, feasibleTunnels);
      const opening = performance.now();
      await openUpTo(phase, request, tunnels, count, fdLimit);
      const openSeconds = (performance.now() - opening) / 1000;
      const rssKiB = await settledRssKiB(proxy, SETTLE_FIRST_WAIT_MS);
      checkNoneLost(tunnels);
      steps.push({
        requested,
        tunnels: count,
        rssKiB,
        kibPerTunnel: (rssKiB - baselineKiB) / count,
        openSeconds,
      });
    }
    await echoOnEvery(tunnels);
    const closing = performance.now();
    await closeAll(tunnels);
    const closeSeconds = (performance.now() - closing) / 1000;
    const idleRss: IdleRss = { baselineKiB, fdLimit, fdHardLimit, feasibleTunnels, steps, closeSeconds };
    return result('idle-rss', tunnels.length, start, stopCpu, { idleRss });
  } catch (error) {
    for (const tunnel of [...primed, ...tunnels]) tunnel.socket.destroy();
    throw error;
  }
}

/** Opens tunnels, `phase.concurrency` at a time, until `tunnels` holds `count`. */
async function openUpTo(
  phase: IdleRssPhase,
  request: Buffer,
  tunnels: IdleTunnel[],
  count: number,
  fdLimit: number,
): Promise<void> {
  let next = tunnels.length;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const conn = next++;
      try {
        const { socket, rest } = await openTunnel(phase.endpoint, request);
        tunnels.push(watch(socket, conn));
        if (rest.length > 0) throw new Error(`${rest.length} unexpected bytes after the 101`);
      } catch (error) {
        failure ??= openFailure(
          error as Error,
          phase.endpoint,
          tunnels.length,
          count,
          fdLimit,
          phase.pids.proxy!,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(phase.concurrency, count - next) }, worker));
  if (failure !== undefined) throw failure;
}

function openFailure(
  error: Error,
  endpoint: Endpoint,
  open: number,
  count: number,
  fdLimit: number,
  proxy: number,
): Error {
  const fds = `open fds per proxy process: ${openFileCounts(proxy)}; limit ${openFilesLimit(proxy).soft} (${fdLimit} at the start)`;
  const hint = /EMFILE|ENFILE/.test(error.message)
    ? ' (the generator ran out of file descriptors)'
    : /ECONNRESET|closed before|expected 101/.test(error.message)
      ? ' (the proxy refused or dropped the connection: out of file descriptors or a connection cap?)'
      : '';
  return new Error(
    `idle-rss: a tunnel to port ${endpoint.port} failed with ${open} of ${count} open${hint}: ` +
      `${error.message} [${fds}]`,
  );
}

/** Keeps an 'error' listener on an idle socket (a reset must not crash the generator) and records an early end. */
function watch(socket: Socket, conn: number): IdleTunnel {
  const onError = (error: Error): void => {
    tunnel.lost ??= error.message;
  };
  const onClose = (): void => {
    tunnel.lost ??= 'closed by the peer';
  };
  const tunnel: IdleTunnel = {
    socket,
    conn,
    lost: undefined,
    stopWatching: () => {
      socket.off('error', onError);
      socket.off('close', onClose);
    },
  };
  socket.on('error', onError);
  socket.on('close', onClose);
  return tunnel;
}

function checkNoneLost(tunnels: readonly IdleTunnel[]): void {
  const lost = tunnels.filter((t) => t.lost !== undefined);
  if (lost.length > 0)
    throw new Error(
      `idle-rss: ${lost.length} of ${tunnels.length} idle tunnels ended early (${lost[0]!.lost})`,
    );
}

/** Waits `firstWaitMs`, then samples the proxy tree's RSS until two samples in a row agree (bounded); returns the last. */
async function settledRssKiB(pid: number, firstWaitMs: number): Promise<number> {
  await sleep(firstWaitMs);
  let last = treeRssKiB(pid);
  for (let i = 0; i < SETTLE_MAX_SAMPLES; i++) {
    await sleep(SETTLE_SAMPLE_MS);
    const now = treeRssKiB(pid);
    if (Math.abs(now - last) < SETTLE_TOLERANCE * last) return now;
    last = now;
  }
  return last;
}

/** Sends one 32-byte message on every tunnel and verifies every echo: the tunnels were live, not half-open. */
function echoOnEvery(tunnels: readonly IdleTunnel[]): Promise<void> {
  checkNoneLost(tunnels);
  return new Promise((resolve, reject) => {
    let echoed = 0;
    const listeners: (() => void)[] = [];
    const done = (error?: Error): void => {
      clearTimeout(timer);
      for (const remove of listeners) remove();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => {
      const lost = tunnels.find((t) => t.lost !== undefined)?.lost;
      done(
        new Error(
          `idle-rss: ${echoed} of ${tunnels.length} tunnels echoed their message within ${STEP_TIMEOUT_MS} ms` +
            (lost === undefined ? '' : ` (a tunnel ended: ${lost})`),
        ),
      );
    }, STEP_TIMEOUT_MS);
    for (const { socket, conn } of tunnels) {
      const reader = new ReplyReader(conn);
      const onData = (chunk: Buffer): void => {
        try {
          if (reader.read(chunk) === 0) return;
        } catch (error) {
          return done(error as Error);
        }
        if (reader.received > 1) return done(new Error(`idle-rss: tunnel ${conn} echoed more than once`));
        if (++echoed === tunnels.length) done();
      };
      socket.on('data', onData);
      listeners.push(() => socket.off('data', onData));
      const frame = Buffer.allocUnsafe(CLIENT_FRAME_BYTES);
      writeMessage(frame, 0, conn, 0);
      socket.write(frame);
    }
  });
}

/** Ends every tunnel at once and resolves when the proxy has closed them all. */
function closeAll(tunnels: readonly IdleTunnel[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let open = tunnels.length;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      for (const { socket } of tunnels) socket.destroy();
      reject(
        new Error(`idle-rss: ${open} of ${tunnels.length} tunnels not closed within ${STEP_TIMEOUT_MS} ms`),
      );
    }, STEP_TIMEOUT_MS);
    const closed = (): void => {
      if (--open > 0) return;
      clearTimeout(timer);
      if (failure === undefined) resolve();
      else reject(new Error(`idle-rss: closing: ${failure}`));
    };
    if (open === 0) {
      clearTimeout(timer);
      return resolve();
    }
    for (const tunnel of tunnels) {
      tunnel.stopWatching();
      const { socket } = tunnel;
      socket.once('error', (error) => {
        failure ??= error.message;
      });
      if (socket.destroyed) {
        closed();
        continue;
      }
      socket.once('close', closed);
      // Nothing more is expected; anything arriving would be a bug upstream, so it is drained and ignored.
      socket.resume();
      socket.end();
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
