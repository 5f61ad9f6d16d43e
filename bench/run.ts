/** Why: `pnpm bench` — starts the backend, the proxies and the generator as separate processes, runs the targets interleaved, and reports. */

import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { alive, killAllNow, stopAll } from './children.ts';
import { startGenerator } from './generator.ts';
import { checkGoals } from './goals.ts';
import { installPeers } from './install-peers.ts';
import { type Running, startBackend, startFresh, startTarget } from './instances.ts';
import { type BenchOptions, parseOptions } from './options.ts';
import { clockTicksPerSecond } from './proc-stat.ts';
import { waitForQuiet } from './quiet.ts';
import {
  largeTunnelsLabel,
  machine,
  markdown,
  medians,
  outsideLoad,
  sanityWarnings,
  spreads,
} from './report.ts';
import { idleTunnelNotes, settingsLine } from './settings.ts';
import { availableTargets } from './targets.ts';
import { type Figures, type Visit, visit } from './visit.ts';

/** Outside CPU load (share of the machine) above which the report warns that figures are disturbed. */
const OUTSIDE_WARNING = 0.1;

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function describe(v: Visit): string {
  const f = v.figures;
  const cpu = f.cpuPer100kEchoes === null ? '' : `, ${f.cpuPer100kEchoes.toFixed(3)} CPU s/100k`;
  const rss =
    f.rssKiBPerTunnel2k === null || f.rssKiBPerTunnelLarge === null
      ? ''
      : `, RSS ${f.rssKiBPerTunnel2k.toFixed(1)} | ${f.rssKiBPerTunnelLarge.toFixed(1)} KiB/tunnel @2000 | @${f.largeIdleTunnels}`;
  return (
    `${f.handshakesC1.toFixed(0)} | ${f.handshakesC32.toFixed(0)} hs/s, p50 ${f.p50Micros.toFixed(0)} µs, ` +
    `p99 ${f.p99Micros.toFixed(0)} µs, ${f.echoesPerSecond.toFixed(0)} echoes/s${cpu}, ` +
    `bulk ${f.bulkMiBPerSecond.toFixed(0)} MiB/s${rss}; visit ${v.seconds.toFixed(1)} s`
  );
}

async function bench(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const clockTicks = clockTicksPerSecond();
  if (options.installPeers) installPeers();
  const { run: targets, skipped } = availableTargets(options.targets);
  for (const { name, reason } of skipped) log(`skipping ${name}: ${reason}`);
  const durations = { rounds: options.durations, warmup: options.warmup };
  // Each target gets a backend port for its visits and another for its fresh idle-RSS instances.
  const backend = await startBackend(2 * targets.length);
  const generator = startGenerator();
  const running: Running[] = [];
  for (const target of targets)
    running.push(await startTarget(target, backend.child, backend.ports[running.length]!, options.dist));
  log(
    `started ${running.map((r) => `${r.target.name}:${r.endpoint.port}`).join(' ')}, backend :${backend.ports.join(',')}`,
  );

  const checkAlive = (): void => {
    for (const r of running)
      if (r.child !== undefined && !alive(r.child)) throw new Error(`${r.target.name} died`);
    if (!alive(backend.child)) throw new Error('echo-backend died');
  };
  for (const r of running) {
    const warm = await visit(generator, r.endpoint, r.pids, durations.warmup, clockTicks, undefined);
    log(`warm-up ${r.target.name}: ${warm.seconds.toFixed(1)} s`);
    checkAlive();
  }
  const visits = new Map<string, Visit[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const [i, r] of running.entries()) {
      const waited = await waitForQuiet(options.durations.quietWaitMs);
      if (waited > 0) log(`waited ${(waited / 1000).toFixed(1)} s for the machine to be quiet`);
      const fresh =
        r.target.start === null
          ? undefined
          : () => startFresh(r.target, backend.child, backend.ports[targets.length + i]!, options.dist);
      const result = await visit(generator, r.endpoint, r.pids, durations.rounds, clockTicks, fresh);
      checkAlive();
      visits.get(r.target.name)!.push(result);
      if (result.idleRssError !== undefined)
        log(`${r.target.name}: idle RSS not measured: ${result.idleRssError}`);
      log(`round ${round}/${options.rounds} ${r.target.name}: ${describe(result)}`);
    }
  }

  const figures = (name: string): Figures[] => visits.get(name)!.map((v) => v.figures);
  const allMedians = new Map(targets.map((t) => [t.name, medians(figures(t.name))]));
  const allSpreads = new Map(targets.map((t) => [t.name, spreads(figures(t.name))]));
  const settings = settingsLine(durations.rounds, options.quick);
  const notes = idleTunnelNotes([...visits.values()].flat());
  const goals = checkGoals(allMedians, largeTunnelsLabel(allMedians));
  const seconds = (performance.now() - started) / 1000;
  const outside = outsideLoad([...visits.values()].flat().map((v) => v.outsideShare));
  const warnings = sanityWarnings(allMedians);
  for (const { name, reason } of skipped) warnings.push(`${name} was not measured: ${reason}`);
  for (const [name, list] of visits)
    for (const v of list)
      if (v.idleRssError !== undefined)
        warnings.push(`${name}: idle RSS not measured in a round: ${v.idleRssError}`);
  if (outside.max > OUTSIDE_WARNING)
    warnings.push(`other processes used up to ${(outside.max * 100).toFixed(0)}% of the CPU during a visit`);
  const report = {
    date: new Date().toISOString(),
    machine: machine(clockTicks),
    settings,
    notes,
    options,
    durations,
    targets: targets.map(({ name, description }) => ({ name, description })),
    warnings,
    seconds,
    outside,
    goals,
  };
  const text = markdown({
    ...report,
    medians: allMedians,
    spreads: allSpreads,
    rounds: options.rounds,
  });
  process.stdout.write(`\n${text}`);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  const json = {
    ...report,
    medians: Object.fromEntries(allMedians),
    spreads: Object.fromEntries(allSpreads),
    visits: Object.fromEntries(visits),
  };
  writeFileSync(`${dir}${stamp}.md`, text);
  writeFileSync(`${dir}${stamp}.json`, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote bench/results/${stamp}.md and .json`);
}

const options = parseOptions(process.argv.slice(2));
if (typeof options === 'string') {
  process.stderr.write(`${options}\n`);
  process.exitCode = options.startsWith('Usage') ? 0 : 2;
} else {
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      killAllNow();
      process.exit(130);
    });
  }
  try {
    await bench(options);
  } catch (error) {
    process.stderr.write(`\nbench FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}
