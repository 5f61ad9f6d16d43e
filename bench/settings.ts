/** Why: what a run measured and how, in words for the report: the settings line, the phase lengths used, and notes on idle-tunnel counts. */

import type { Durations } from './options.ts';
import { spaced } from './report.ts';
import {
  BULK_CONNECTIONS,
  BULK_MESSAGE_BYTES,
  BULK_WINDOW,
  ECHO_CONNECTIONS,
  ECHO_WINDOW,
  HANDSHAKE_CONCURRENCY,
  IDLE_OPEN_CONCURRENCY,
  IDLE_PRIME_TUNNELS,
  IDLE_TUNNEL_COUNTS,
  type Visit,
} from './visit.ts';

/** Why the larger idle-tunnel count is below the one asked for, per distinct cause. */
export function idleTunnelNotes(visits: readonly Visit[]): string[] {
  const notes = new Set<string>();
  for (const v of visits) {
    const rss = v.phases.idleRss?.idleRss;
    const step = rss?.steps.at(-1);
    if (rss === undefined || rss === null || step === undefined || step.tunnels === step.requested) continue;
    const raisable = rss.fdHardLimit > rss.fdLimit ? 'soft, below its hard limit' : 'equal to its hard limit';
    notes.add(
      `Idle tunnels: ${spaced(step.tunnels)} instead of ${spaced(step.requested)}: the proxy's open-files limit ` +
        `is ${spaced(rss.fdLimit)} (${raisable}) and it holds 2 descriptors per tunnel, so ` +
        `⌊(${spaced(rss.fdLimit)} − 100 spare) ÷ 2⌋ = ${spaced(rss.feasibleTunnels)} fit.`,
    );
  }
  return [...notes];
}

/** One paragraph: every phase's load and length, and how figures are derived. */
export function settingsLine(d: Durations, quick: boolean): string {
  const [smallCount, largeCount] = IDLE_TUNNEL_COUNTS;
  return (
    `${quick ? 'quick, ' : ''}handshakes ${d.handshakesMs} ms at c=${HANDSHAKE_CONCURRENCY.join(' and c=')}; ` +
    `32-byte RTT ${d.latencyMs} ms at c=1; echoes ${d.echoMs} ms with ${ECHO_CONNECTIONS} connections × ` +
    `${ECHO_WINDOW} in flight; bulk ${d.bulkMs} ms of ${BULK_MESSAGE_BYTES / 2 ** 20} MiB binary messages, ` +
    `${BULK_CONNECTIONS} connections × ${BULK_WINDOW} in flight, all-zero masking key, every echo compared whole ` +
    `(MiB/s = payload echoed ÷ s ÷ 2^20); idle RSS on a freshly started instance of the proxy (a process that has ` +
    `carried bulk traffic keeps the memory it freed and hides the tunnels' cost), primed with ` +
    `${IDLE_PRIME_TUNNELS} tunnels opened and closed: VmRSS of its process tree with ${spaced(smallCount)} then ` +
    `${spaced(largeCount)} idle tunnels (opened ${IDLE_OPEN_CONCURRENCY} at a time, capped by the proxy's ` +
    `open-files limit; RSS settled: 300 ms, then 100 ms samples until two agree within 1%), minus VmRSS just before ` +
    `opening, ÷ tunnels; each tunnel then echoes one verified 32-byte message; proxy CPU from /proc/<pid>/stat ` +
    `(handshake CPU from the c=32 phase, CPU/GiB in the JSON from the bulk phase).`
  );
}
