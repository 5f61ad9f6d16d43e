/** Why: one visit of a target is a fixed sequence of phases; this runs it and turns counts and ticks into the reported figures. */

import { performance } from 'node:perf_hooks';
import type { Generator } from './generator.ts';
import type { Durations } from './options.ts';
import type { Endpoint, PhaseResult, Pids } from './protocol.ts';

/** The echo-throughput load: this many connections, each keeping this many messages in flight. */
export const ECHO_CONNECTIONS = 64;
export const ECHO_WINDOW = 16;
/** Concurrency of the two handshake phases. */
export const HANDSHAKE_CONCURRENCY = [1, 32] as const;
/** The bulk load: this many connections, each keeping this many 1 MiB messages in flight. */
export const BULK_CONNECTIONS = 4;
export const BULK_WINDOW = 2;
export const BULK_MESSAGE_BYTES: number = 1 << 20;
/** Idle tunnels at which the proxy's RSS is read (the larger one capped by its open-files limit), opened this many at a time. */
export const IDLE_TUNNEL_COUNTS = [2_000, 10_000] as const;
export const IDLE_OPEN_CONCURRENCY = 64;
/**
 * Tunnels opened and closed on the fresh proxy before its baseline RSS: as many as the first count, so first-use
 * code, caches and the heap's working size (a Node proxy's young generation grows by several MiB under the first
 * thousand handshakes) are in the baseline, and what is left is the marginal cost of an idle tunnel.
 */
export const IDLE_PRIME_TUNNELS = 2_000;
/** How long the orchestrator waits for the idle-RSS phase, which ends when its work is done, not on a clock. */
const IDLE_RSS_BOUND_MS = 60_000;

/**
 * A proxy instance started for the idle-RSS phase alone and stopped after it: a process that has carried bulk
 * traffic keeps the memory it freed, and new tunnels would fill that instead of growing RSS.
 */
export interface FreshProxy {
  readonly endpoint: Endpoint;
  readonly pids: Pids;
  stop(): Promise<void>;
}

/** What one visit measured; medians of these are reported. CPU and RSS figures are null for `direct` (no proxy). */
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
  /** MiB of 1 MiB messages echoed and verified per second (bulk phase). */
  readonly bulkMiBPerSecond: number;
  /** Proxy CPU seconds per GiB echoed (bulk phase; each byte crosses the proxy twice). */
  readonly cpuPerGiB: number | null;
  /** Proxy tree RSS growth per idle tunnel in KiB, at 2 000 tunnels and at the larger count. */
  readonly rssKiBPerTunnel2k: number | null;
  readonly rssKiBPerTunnelLarge: number | null;
  /** The larger count actually opened (10 000, or fewer when the proxy's fd limit cannot hold them). */
  readonly largeIdleTunnels: number | null;
}

export interface Visit {
  readonly figures: Figures;
  /** Largest share of the machine's CPU used by processes other than generator, proxy and backend in any phase. */
  readonly outsideShare: number;
  /** Wall time of the whole visit, pauses included. */
  readonly seconds: number;
  /** Why the idle-RSS phase failed (its figures are then null); a peer that cannot hold the tunnels must not end the run. */
  readonly idleRssError?: string;
  readonly phases: {
    readonly handshakesC1: PhaseResult;
    readonly handshakesC32: PhaseResult;
    readonly latency: PhaseResult;
    readonly echo: PhaseResult;
    readonly bulk: PhaseResult;
    /** Null for `direct` and in warm-up visits. */
    readonly idleRss: PhaseResult | null;
  };
}

/**
 * Runs every phase against one endpoint, in a fixed order, with a pause between phases; then, when `freshProxy` is
 * given (not for `direct`, not in warm-up), the idle-RSS phase on a new instance of the same proxy.
 */
export async function visit(
  generator: Generator,
  endpoint: Endpoint,
  pids: Pids,
  durations: Durations,
  ticksPerSecond: number,
  freshProxy: (() => Promise<FreshProxy>) | undefined,
): Promise<Visit> {
  const started = performance.now();
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
  const bulk = await generator.run({
    ...base,
    kind: 'bulk',
    connections: BULK_CONNECTIONS,
    window: BULK_WINDOW,
    messageBytes: BULK_MESSAGE_BYTES,
    durationMs: durations.bulkMs,
  });
  await pause(durations.pauseMs);
  let idleRss: PhaseResult | null = null;
  let idleRssError: string | undefined;
  if (freshProxy !== undefined) {
    const fresh = await freshProxy();
    try {
      idleRss = await generator.run({
        endpoint: fresh.endpoint,
        pids: fresh.pids,
        kind: 'idle-rss',
        primeTunnels: IDLE_PRIME_TUNNELS,
        counts: IDLE_TUNNEL_COUNTS,
        concurrency: IDLE_OPEN_CONCURRENCY,
        durationMs: IDLE_RSS_BOUND_MS,
      });
    } catch (error) {
      idleRssError = error instanceof Error ? error.message : String(error);
    } finally {
      await fresh.stop();
    }
    await pause(durations.pauseMs);
  }
  const cpuSeconds = (phase: PhaseResult, per: number): number | null =>
    phase.cpu.proxyTicks === null ? null : (phase.cpu.proxyTicks / ticksPerSecond / phase.count) * per;
  const bulkBytes = bulk.bytes ?? 0;
  const steps = idleRss?.idleRss?.steps;
  const timed = [handshakesC1, handshakesC32, latency, echo, bulk];
  return {
    figures: {
      handshakesC1: rate(handshakesC1),
      handshakesC32: rate(handshakesC32),
      p50Micros: latency.p50Micros ?? Number.NaN,
      p99Micros: latency.p99Micros ?? Number.NaN,
      echoesPerSecond: rate(echo),
      cpuPer100kEchoes: cpuSeconds(echo, 100_000),
      cpuPer1kHandshakes: cpuSeconds(handshakesC32, 1_000),
      bulkMiBPerSecond: (rate(bulk) * bulkBytes) / bulk.count / 2 ** 20,
      cpuPerGiB:
        bulk.cpu.proxyTicks === null ? null : bulk.cpu.proxyTicks / ticksPerSecond / (bulkBytes / 2 ** 30),
      rssKiBPerTunnel2k: steps?.[0]?.kibPerTunnel ?? null,
      rssKiBPerTunnelLarge: steps?.[1]?.kibPerTunnel ?? null,
      largeIdleTunnels: steps?.[1]?.tunnels ?? null,
    },
    outsideShare: Math.max(...timed.map((p) => outsideShare(p, ticksPerSecond))),
    seconds: (performance.now() - started) / 1000,
    ...(idleRssError === undefined ? {} : { idleRssError }),
    phases: { handshakesC1, handshakesC32, latency, echo, bulk, idleRss },
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
