/** Why: the orchestrator and the load generator talk over IPC; the messages are typed once here for both ends. */

/** Where the generator connects: a proxy's listener, or the backend itself for `direct`. */
export interface Endpoint {
  readonly port: number;
  /** Request-target of the upgrade, e.g. `/ws/echo`. */
  readonly path: string;
}

/** Processes whose CPU a phase measures; `proxy` is null for `direct`. */
export interface Pids {
  readonly proxy: number | null;
  readonly backend: number;
}

interface PhaseBase {
  readonly endpoint: Endpoint;
  readonly pids: Pids;
  /** Length of the measurement window in milliseconds. */
  readonly durationMs: number;
}

/** Open, upgrade and close connections, `concurrency` at a time. */
export interface HandshakePhase extends PhaseBase {
  readonly kind: 'handshakes';
  readonly concurrency: number;
}

/** One connection, one 32-byte message in flight at a time. */
export interface LatencyPhase extends PhaseBase {
  readonly kind: 'latency';
}

/** `connections` connections, each keeping `window` messages in flight. */
export interface EchoPhase extends PhaseBase {
  readonly kind: 'echo';
  readonly connections: number;
  readonly window: number;
}

/** `connections` connections, each keeping `window` binary messages of `messageBytes` in flight. */
export interface BulkPhase extends PhaseBase {
  readonly kind: 'bulk';
  readonly connections: number;
  readonly window: number;
  readonly messageBytes: number;
}

/**
 * On a freshly started proxy: opens, echoes on and closes `primeTunnels` tunnels (code paths loaded), then opens
 * idle tunnels, `concurrency` at a time, up to each of `counts` in turn (capped by the proxy's open-files limit),
 * sampling the proxy tree's RSS at each; then echoes one message per tunnel and closes them all. `durationMs` bounds
 * only the orchestrator's wait for the answer: the phase ends when the work is done.
 */
export interface IdleRssPhase extends PhaseBase {
  readonly kind: 'idle-rss';
  readonly primeTunnels: number;
  readonly counts: readonly number[];
  readonly concurrency: number;
}

export type Phase = HandshakePhase | LatencyPhase | EchoPhase | BulkPhase | IdleRssPhase;

/** Proxy memory with idle tunnels open, at one tunnel count. */
export interface IdleRssStep {
  /** Tunnels asked for, and opened (fewer when the proxy's open-files limit cannot hold them). */
  readonly requested: number;
  readonly tunnels: number;
  /** Settled RSS of the proxy's process tree with `tunnels` open. */
  readonly rssKiB: number;
  /** (rssKiB − baseline) ÷ tunnels. */
  readonly kibPerTunnel: number;
  /** Time to open the tunnels of this step. */
  readonly openSeconds: number;
}

export interface IdleRss {
  /** Settled RSS of the proxy's process tree just before opening. */
  readonly baselineKiB: number;
  /** Smallest soft and hard open-files limits in the proxy's tree, and the most tunnels the soft one leaves room for. */
  readonly fdLimit: number;
  readonly fdHardLimit: number;
  readonly feasibleTunnels: number;
  readonly steps: readonly IdleRssStep[];
  readonly closeSeconds: number;
}

/** CPU used during a phase's window: proxy and backend in clock ticks, the generator in microseconds. */
export interface CpuUse {
  readonly proxyTicks: number | null;
  readonly backendTicks: number;
  readonly generatorMicros: number;
  /** Whole machine (all cores, /proc/stat): busy ticks including the above, and all ticks. */
  readonly machineBusyTicks: number;
  readonly machineTotalTicks: number;
}

export interface PhaseResult {
  readonly kind: Phase['kind'];
  /** Handshakes completed, messages echoed and verified, or (idle-rss) tunnels that echoed their message. */
  readonly count: number;
  /** Payload bytes echoed and verified (bulk phase only). */
  readonly bytes: number | null;
  readonly seconds: number;
  readonly cpu: CpuUse;
  /** Round-trip percentiles in microseconds (latency phase only). */
  readonly p50Micros: number | null;
  readonly p99Micros: number | null;
  readonly idleRss: IdleRss | null;
}

export interface Request {
  readonly id: number;
  readonly phase: Phase;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: PhaseResult }
  | { readonly id: number; readonly ok: false; readonly error: string };
