/** Why: on a shared machine other jobs skew every figure, so each visit first waits (bounded) for the CPUs to be idle. */

import { machineTicks } from './proc-stat.ts';

/** Length of one idleness sample. */
const SAMPLE_MS = 300;
/** Share of the machine's CPU below which it counts as quiet (the bench's own processes idle in between). */
const QUIET_SHARE = 0.1;

/** Waits until one sample shows the machine quiet, or `maxWaitMs` passed; resolves with the milliseconds waited. */
export async function waitForQuiet(maxWaitMs: number): Promise<number> {
  const attempts = Math.max(1, Math.ceil(maxWaitMs / SAMPLE_MS));
  for (let i = 0; i < attempts; i++) {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    const after = machineTicks();
    const total = after.total - before.total;
    if (total > 0 && (after.busy - before.busy) / total < QUIET_SHARE) return i * SAMPLE_MS;
  }
  return attempts * SAMPLE_MS;
}
