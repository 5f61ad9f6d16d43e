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

export type Phase = HandshakePhase | LatencyPhase | EchoPhase;

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
  /** Handshakes completed, or messages echoed and verified. */
  readonly count: number;
  readonly seconds: number;
  readonly cpu: CpuUse;
  /** Round-trip percentiles in microseconds (latency phase only). */
  readonly p50Micros: number | null;
  readonly p99Micros: number | null;
}

export interface Request {
  readonly id: number;
  readonly phase: Phase;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: PhaseResult }
  | { readonly id: number; readonly ok: false; readonly error: string };
