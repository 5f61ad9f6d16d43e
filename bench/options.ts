/** Why: the bench's command line (`pnpm bench [--quick] [--rounds N] ...`) and the phase lengths it implies, in one place. */

import { parseArgs } from 'node:util';

/** Lengths of the measurement windows, in milliseconds. */
export interface Durations {
  readonly handshakesMs: number;
  readonly latencyMs: number;
  readonly echoMs: number;
  /** The bulk phase (1 MiB messages). */
  readonly bulkMs: number;
  /** Quiet time between phases, so closing connections do not bleed into the next window. */
  readonly pauseMs: number;
  /** Longest wait for an idle machine before each visit (see quiet.ts). */
  readonly quietWaitMs: number;
}

export interface BenchOptions {
  readonly rounds: number;
  readonly quick: boolean;
  /** Target names to run, in list order; undefined runs all. */
  readonly targets: readonly string[] | undefined;
  readonly dist: boolean;
  /** Install nginx and haproxy from Debian (install-peers.ts) before running. */
  readonly installPeers: boolean;
  readonly durations: Durations;
  /** Shorter phases run once per target before round 1, results discarded (JIT, caches). */
  readonly warmup: Durations;
}

export const USAGE = `Usage: pnpm bench [--quick] [--rounds N] [--targets a,b,c] [--dist] [--install-peers]

  --rounds N        rounds of interleaved targets; medians are reported (default 3, --quick 1)
  --quick           1 round of short phases: a smoke run
  --targets LIST    comma list of targets to run (default all; keep direct and hpm for the ratios)
  --dist            run wstunnel from packages/cli/dist (build first) instead of its sources
  --install-peers   apt-get install nginx and haproxy first (root or sudo; their system services are not started);
                    without them the nginx and haproxy targets are skipped`;

// 11 targets × 3 rounds of these fit the 12 minutes with room for the idle-RSS phase and quiet waits.
const FULL: Durations = {
  handshakesMs: 1_500,
  latencyMs: 1_500,
  echoMs: 2_000,
  bulkMs: 2_000,
  pauseMs: 250,
  quietWaitMs: 3_000,
};
const QUICK: Durations = {
  handshakesMs: 500,
  latencyMs: 500,
  echoMs: 700,
  bulkMs: 500,
  pauseMs: 100,
  quietWaitMs: 1_000,
};
const WARMUP: Durations = {
  handshakesMs: 500,
  latencyMs: 200,
  echoMs: 700,
  bulkMs: 300,
  pauseMs: 100,
  quietWaitMs: 0,
};
const QUICK_WARMUP: Durations = {
  handshakesMs: 200,
  latencyMs: 100,
  echoMs: 200,
  bulkMs: 150,
  pauseMs: 50,
  quietWaitMs: 0,
};
const MAX_ROUNDS = 50;

/** Parses the arguments; returns a string (usage or error) when the bench should not run. */
export function parseOptions(argv: readonly string[]): BenchOptions | string {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    return `${(error as Error).message}\n\n${USAGE}`;
  }
  if (values.help) return USAGE;
  const quick = values.quick ?? false;
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS)
    return `--rounds must be a whole number from 1 to ${MAX_ROUNDS}\n\n${USAGE}`;
  const targets = values.targets?.split(',').map((name) => name.trim());
  return {
    rounds,
    quick,
    targets,
    dist: values.dist ?? false,
    installPeers: values['install-peers'] ?? false,
    durations: quick ? QUICK : FULL,
    warmup: quick ? QUICK_WARMUP : WARMUP,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean' },
      targets: { type: 'string' },
      dist: { type: 'boolean' },
      'install-peers': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
