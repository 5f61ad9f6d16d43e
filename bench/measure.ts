/** Why: every phase measures its window the same way (wall time, CPU of each process) and reports in one shape. */

import { performance } from 'node:perf_hooks';
import { machineTicks, treeTicks } from './proc-stat.ts';
import type { CpuUse, Phase, PhaseResult, Pids } from './protocol.ts';

/** Starts a CPU measurement; the returned function ends it. */
export function measureCpu(pids: Pids): () => CpuUse {
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

/** Ends the window opened at `start` (a performance.now()) and the CPU measurement; figures not given are null. */
export function result(
  kind: Phase['kind'],
  count: number,
  start: number,
  stopCpu: () => CpuUse,
  extra: Partial<Pick<PhaseResult, 'bytes' | 'p50Micros' | 'p99Micros' | 'idleRss'>> = {},
): PhaseResult {
  const seconds = (performance.now() - start) / 1000;
  return {
    kind,
    count,
    seconds,
    cpu: stopCpu(),
    bytes: extra.bytes ?? null,
    p50Micros: extra.p50Micros ?? null,
    p99Micros: extra.p99Micros ?? null,
    idleRss: extra.idleRss ?? null,
  };
}
