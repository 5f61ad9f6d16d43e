/** Why: the kinds of load (handshakes, one-at-a-time latency, windowed echo throughput; bulk and idle tunnels in their own files), each bounded and verified. */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { runBulk } from './bulk.ts';
import {
  CLIENT_FRAME_BYTES,
  closeTunnel,
  openTunnel,
  ReplyReader,
  STEP_TIMEOUT_MS,
  type Tunnel,
  withTunnels,
  writeMessage,
} from './client.ts';
import { runIdleRss } from './idle-rss.ts';
import { measureCpu, result } from './measure.ts';
import type { EchoPhase, HandshakePhase, LatencyPhase, Phase, PhaseResult } from './protocol.ts';
import { type MessageStream, pump } from './pump.ts';
import { upgradeRequest } from './ws-wire.ts';

/** Upper bounds on work per phase, far above what a few seconds allow; they only keep every loop finite. */
const MAX_HANDSHAKES_PER_WORKER = 1_000_000;
const MAX_LATENCY_SAMPLES = 1_000_000;
/** Round trips of the latency phase left out of the percentiles (the first ones pay for cold caches). */
const LATENCY_WARMUP = 100;

export function runPhase(phase: Phase): Promise<PhaseResult> {
  switch (phase.kind) {
    case 'handshakes':
      return runHandshakes(phase);
    case 'latency':
      return runLatency(phase);
    case 'echo':
      return runEcho(phase);
    case 'bulk':
      return runBulk(phase);
    case 'idle-rss':
      return runIdleRss(phase);
  }
}

async function runHandshakes(phase: HandshakePhase): Promise<PhaseResult> {
  const request = upgradeRequest(`127.0.0.1:${phase.endpoint.port}`, phase.endpoint.path);
  const stopCpu = measureCpu(phase.pids);
  const start = performance.now();
  const deadline = start + phase.durationMs;
  let count = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < MAX_HANDSHAKES_PER_WORKER && !failed && performance.now() < deadline; i++) {
      try {
        const { socket, rest } = await openTunnel(phase.endpoint, request);
        if (rest.length > 0) throw new Error(`${rest.length} unexpected bytes after the 101`);
        await closeTunnel(socket);
      } catch (error) {
        failed = true;
        throw error;
      }
      count++;
    }
  };
  await Promise.all(Array.from({ length: phase.concurrency }, worker));
  return result('handshakes', count, start, stopCpu);
}

async function runLatency(phase: LatencyPhase): Promise<PhaseResult> {
  const request = upgradeRequest(`127.0.0.1:${phase.endpoint.port}`, phase.endpoint.path);
  const { socket, rest } = await openTunnel(phase.endpoint, request);
  const reader = new ReplyReader(0);
  const samples = new Float64Array(MAX_LATENCY_SAMPLES);
  const frame = Buffer.allocUnsafe(CLIENT_FRAME_BYTES);
  const stopCpu = measureCpu(phase.pids);
  const start = performance.now();
  const deadline = start + phase.durationMs;
  let sentAt = 0;
  let recorded = 0;
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      clearTimeout(watchdog);
      socket.destroy();
      reject(error);
    };
    const watchdog = setTimeout(
      () => fail(new Error(`latency: stalled after ${reader.received} echoes`)),
      phase.durationMs + STEP_TIMEOUT_MS,
    );
    const send = (): void => {
      // The previous frame was fully echoed, so its buffer is no longer queued and may be reused.
      writeMessage(frame, 0, 0, reader.received);
      sentAt = performance.now();
      socket.write(frame);
    };
    const onData = (chunk: Buffer): void => {
      let echoed: number;
      try {
        echoed = reader.read(chunk);
      } catch (error) {
        return fail(error as Error);
      }
      if (echoed === 0) return;
      const now = performance.now();
      if (echoed > 1) return fail(new Error(`latency: ${echoed} echoes for one message`));
      if (reader.received > LATENCY_WARMUP) samples[recorded++] = now - sentAt;
      if (now < deadline && recorded < MAX_LATENCY_SAMPLES) return send();
      socket.off('data', onData);
      clearTimeout(watchdog);
      resolve();
    };
    socket.on('data', onData);
    socket.on('error', fail);
    if (rest.length > 0) onData(rest);
    send();
  });
  const [p50Micros, p99Micros] = percentilesMicros(samples.subarray(0, recorded));
  const measured = result('latency', reader.received, start, stopCpu, { p50Micros, p99Micros });
  await closeTunnel(socket);
  return measured;
}

/** p50 and p99 in microseconds of round trips given in milliseconds. */
function percentilesMicros(samples: Float64Array): [number, number] {
  if (samples.length === 0) throw new Error('latency: no samples');
  const sorted = samples.slice().sort();
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000;
  return [at(0.5), at(0.99)];
}

async function runEcho(phase: EchoPhase): Promise<PhaseResult> {
  const request = upgradeRequest(`127.0.0.1:${phase.endpoint.port}`, phase.endpoint.path);
  return withTunnels(phase.endpoint, request, phase.connections, (tunnels) => pumpEchoes(phase, tunnels));
}

async function pumpEchoes(phase: EchoPhase, tunnels: readonly Tunnel[]): Promise<PhaseResult> {
  const stopCpu = measureCpu(phase.pids);
  const start = performance.now();
  const echoed = await pump({ name: 'echo', ...phase }, tunnels, smallMessages);
  return result('echo', echoed, start, stopCpu);
}

/** 32-byte messages, several per write, each echo checked by a ReplyReader. */
function smallMessages(conn: number, socket: Socket): MessageStream {
  const reader = new ReplyReader(conn);
  return {
    send(first, n) {
      const out = Buffer.allocUnsafe(n * CLIENT_FRAME_BYTES);
      for (let k = 0; k < n; k++) writeMessage(out, k * CLIENT_FRAME_BYTES, conn, first + k);
      socket.write(out);
    },
    read: (chunk) => reader.read(chunk),
  };
}
