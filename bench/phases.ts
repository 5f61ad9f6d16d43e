/** Why: the three kinds of load (handshakes, one-at-a-time latency, windowed echo throughput), each bounded in time and verified. */

import { performance } from 'node:perf_hooks';
import {
  CLIENT_FRAME_BYTES,
  closeTunnel,
  openTunnel,
  ReplyReader,
  STEP_TIMEOUT_MS,
  type Tunnel,
  writeMessage,
} from './client.ts';
import { machineTicks, treeTicks } from './proc-stat.ts';
import type {
  CpuUse,
  EchoPhase,
  HandshakePhase,
  LatencyPhase,
  Phase,
  PhaseResult,
  Pids,
} from './protocol.ts';
import { upgradeRequest } from './ws-wire.ts';

/** Upper bounds on work per phase, far above what a few seconds allow; they only keep every loop finite. */
const MAX_HANDSHAKES_PER_WORKER = 1_000_000;
const MAX_LATENCY_SAMPLES = 1_000_000;
/** Round trips of the latency phase left out of the percentiles (the first ones pay for cold caches). */
const LATENCY_WARMUP = 100;

export function runPhase(phase: Phase): Promise<PhaseResult> {
  if (phase.kind === 'handshakes') return runHandshakes(phase);
  if (phase.kind === 'latency') return runLatency(phase);
  return runEcho(phase);
}

/** Starts a CPU measurement; the returned function ends it. */
function measureCpu(pids: Pids): () => CpuUse {
  const proxy = pids.proxy === null ? null : treeTicks(pids.proxy);
  const backend = treeTicks(pids.backend);
  const generator = process.cpuUsage();
  const machine = machineTicks();
  return () => {
    const used = process.cpuUsage(generator);
    const { busy, total } = machineTicks();
    return {
      proxyTicks: proxy === null || pids.proxy === null ? null : treeTicks(pids.proxy) - proxy,
      backendTicks: treeTicks(pids.backend) - backend,
      generatorMicros: used.user + used.system,
      machineBusyTicks: busy - machine.busy,
      machineTotalTicks: total - machine.total,
    };
  };
}

function result(
  kind: Phase['kind'],
  count: number,
  start: number,
  stopCpu: () => CpuUse,
  percentiles: [number, number] | null = null,
): PhaseResult {
  const seconds = (performance.now() - start) / 1000;
  return {
    kind,
    count,
    seconds,
    cpu: stopCpu(),
    p50Micros: percentiles?.[0] ?? null,
    p99Micros: percentiles?.[1] ?? null,
  };
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
  const percentiles = percentilesMicros(samples.subarray(0, recorded));
  const measured = result('latency', reader.received, start, stopCpu, percentiles);
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
  const tunnels: Tunnel[] = [];
  try {
    for (let i = 0; i < phase.connections; i++) tunnels.push(await openTunnel(phase.endpoint, request));
    return await pumpEchoes(phase, tunnels);
  } finally {
    await Promise.all(tunnels.map((tunnel) => closeTunnel(tunnel.socket).catch(() => undefined)));
  }
}

/** Keeps `window` messages in flight on every tunnel until the deadline, then waits for every echo. */
async function pumpEchoes(phase: EchoPhase, tunnels: readonly Tunnel[]): Promise<PhaseResult> {
  const stopCpu = measureCpu(phase.pids);
  const start = performance.now();
  let sending = true;
  let echoed = 0;
  let sentTotal = 0;
  const stopSending = setTimeout(() => {
    sending = false;
  }, phase.durationMs);
  const pumps = tunnels.map(
    ({ socket, rest }, conn) =>
      new Promise<void>((resolve, reject) => {
        const reader = new ReplyReader(conn);
        let sent = 0;
        const send = (n: number): void => {
          const out = Buffer.allocUnsafe(n * CLIENT_FRAME_BYTES);
          for (let k = 0; k < n; k++) writeMessage(out, k * CLIENT_FRAME_BYTES, conn, sent++);
          sentTotal += n;
          socket.write(out);
        };
        const finish = (error?: Error): void => {
          socket.off('data', onData);
          socket.off('error', finish);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onData = (chunk: Buffer): void => {
          let got: number;
          try {
            got = reader.read(chunk);
          } catch (error) {
            return finish(error as Error);
          }
          echoed += got;
          if (reader.received > sent)
            return finish(new Error(`connection ${conn}: more echoes than messages`));
          if (sending) {
            if (got > 0) send(got);
          } else if (reader.received === sent) finish();
        };
        socket.on('data', onData);
        socket.on('error', finish);
        send(phase.window);
        if (rest.length > 0) onData(rest);
      }),
  );
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    watchdog = setTimeout(
      () => reject(new Error(`echo: stalled, ${echoed} of ${sentTotal} messages echoed`)),
      phase.durationMs + STEP_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([Promise.all(pumps), stalled]);
  } finally {
    clearTimeout(stopSending);
    clearTimeout(watchdog);
  }
  if (echoed !== sentTotal) throw new Error(`echo: ${echoed} echoes for ${sentTotal} messages`);
  return result('echo', echoed, start, stopCpu);
}
