/** Why: one visit of a target is a fixed sequence of phases; this runs it and turns counts and ticks into the reported figures. */

import type { Generator } from './generator.ts';
import type { Durations } from './options.ts';
import type { Endpoint, PhaseResult, Pids } from './protocol.ts';

/** The echo-throughput load: this many connections, each keeping this many messages in flight. */
export const ECHO_CONNECTIONS = 64;
export const ECHO_WINDOW = 16;
/** Concurrency of the two handshake phases. */
export const HANDSHAKE_CONCURRENCY = [1, 32] as const;

/** What one visit measured; medians of these are reported. CPU figures are null for `direct` (no proxy). */
export interface Figures {
  readonly handshakesC1: number;
  readonly handshakesC32: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly echoesPerSecond: number;
  /** Proxy CPU seconds per 100 000 echoed messages (echo phase). */
  readonly cpuPer100kEchoes: number | null;
  /** Proxy CPU seconds per 1 000 handshakes (concurrency-32 phase). */
  readonly cpuPer1kHandshakes: number | null;
}

export interface Visit {
  readonly figures: Figures;
  /** Largest share of the machine's CPU used by processes other than generator, proxy and backend in any phase. */
  readonly outsideShare: number;
  readonly phases: {
    readonly handshakesC1: PhaseResult;
    readonly handshakesC32: PhaseResult;
    readonly latency: PhaseResult;
    readonly echo: PhaseResult;
  };
}

/** Runs every phase against one endpoint, in a fixed order, with a pause between phases. */
export async function visit(
  generator: Generator,
  endpoint: Endpoint,
  pids: Pids,
  durations: Durations,
  ticksPerSecond: number,
): Promise<Visit> {
  const base = { endpoint, pids };
  const [c1, c32] = HANDSHAKE_CONCURRENCY;
  const handshakesC1 = await generator.run({
    ...base,
    kind: 'handshakes',
    concurrency: c1,
    durationMs: durations.handshakesMs,
  });
  await pause(durations.pauseMs);
  const handshakesC32 = await generator.run({
    ...base,
    kind: 'handshakes',
    concurrency: c32,
    durationMs: durations.handshakesMs,
  });
  await pause(durations.pauseMs);
  const latency = await generator.run({ ...base, kind: 'latency', durationMs: durations.latencyMs });
  await pause(durations.pauseMs);
  const echo = await generator.run({
    ...base,
    kind: 'echo',
    connections: ECHO_CONNECTIONS,
    window: ECHO_WINDOW,
    durationMs: durations.echoMs,
  });
  await pause(durations.pauseMs);
  const cpuSeconds = (phase: PhaseResult, per: number): number | null =>
    phase.cpu.proxyTicks === null ? null : (phase.cpu.proxyTicks / ticksPerSecond / phase.count) * per;
  return {
    figures: {
      handshakesC1: rate(handshakesC1),
      handshakesC32: rate(handshakesC32),
      p50Micros: latency.p50Micros ?? Number.NaN,
      p99Micros: latency.p99Micros ?? Number.NaN,
      echoesPerSecond: rate(echo),
      cpuPer100kEchoes: cpuSeconds(echo, 100_000),
      cpuPer1kHandshakes: cpuSeconds(handshakesC32, 1_000),
    },
    outsideShare: Math.max(
      ...[handshakesC1, handshakesC32, latency, echo].map((p) => outsideShare(p, ticksPerSecond)),
    ),
    phases: { handshakesC1, handshakesC32, latency, echo },
  };
}

/** Share of all CPU ticks in a phase's window that went to processes outside the bench (other jobs, the kernel). */
function outsideShare({ cpu }: PhaseResult, ticksPerSecond: number): number {
  const ours = (cpu.proxyTicks ?? 0) + cpu.backendTicks + (cpu.generatorMicros * ticksPerSecond) / 1e6;
  return cpu.machineTotalTicks === 0 ? 0 : Math.max(0, cpu.machineBusyTicks - ours) / cpu.machineTotalTicks;
}

function rate(phase: PhaseResult): number {
  if (phase.count === 0) throw new Error(`${phase.kind}: nothing completed in ${phase.seconds.toFixed(2)} s`);
  return phase.count / phase.seconds;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
