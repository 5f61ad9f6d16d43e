/** Why: `pnpm bench` — starts the backend, the proxies and the generator as separate processes, runs the targets interleaved, and reports. */

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { alive, freePort, killAllNow, startChild, stopAll, waitForPort } from './children.ts';
import { startGenerator } from './generator.ts';
import { type BenchOptions, parseOptions } from './options.ts';
import { clockTicksPerSecond } from './proc-stat.ts';
import type { Endpoint, Pids } from './protocol.ts';
import { waitForQuiet } from './quiet.ts';
import { machine, markdown, medians, outsideLoad, sanityWarnings, spreads } from './report.ts';
import { TARGETS, type Target, UPGRADE_PATH } from './targets.ts';
import {
  ECHO_CONNECTIONS,
  ECHO_WINDOW,
  type Figures,
  HANDSHAKE_CONCURRENCY,
  type Visit,
  visit,
} from './visit.ts';

const STARTUP_TIMEOUT_MS = 15_000;
/** Outside CPU load (share of the machine) above which the report warns that figures are disturbed. */
const OUTSIDE_WARNING = 0.1;

/** A target with its process (if any) started and listening. */
interface Running {
  readonly target: Target;
  readonly child: ChildProcess | undefined;
  readonly endpoint: Endpoint;
  readonly pids: Pids;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function startBackend(): Promise<{ child: ChildProcess; port: number }> {
  const file = fileURLToPath(new URL('./echo-backend.ts', import.meta.url));
  const child = startChild('echo-backend', process.execPath, [file], true);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo-backend did not start')), STARTUP_TIMEOUT_MS);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => reject(new Error(`echo-backend exited (${code})`)));
  });
  return { child, port };
}

async function startTarget(
  target: Target,
  backend: ChildProcess,
  backendPort: number,
  dist: boolean,
): Promise<Running> {
  const backendPid = backend.pid!;
  if (target.start === null) {
    return {
      target,
      child: undefined,
      endpoint: { port: backendPort, path: UPGRADE_PATH },
      pids: { proxy: null, backend: backendPid },
    };
  }
  const port = await freePort();
  const { command, args } = target.start({ port, backendPort, dist });
  const child = startChild(target.name, command, args);
  await waitForPort(target.name, child, port, STARTUP_TIMEOUT_MS);
  return {
    target,
    child,
    endpoint: { port, path: UPGRADE_PATH },
    pids: { proxy: child.pid!, backend: backendPid },
  };
}

function selectTargets(names: readonly string[] | undefined): readonly Target[] {
  if (names === undefined) return TARGETS;
  for (const name of names) {
    if (!TARGETS.some((t) => t.name === name))
      throw new Error(`unknown target "${name}" (known: ${TARGETS.map((t) => t.name).join(', ')})`);
  }
  return TARGETS.filter((t) => names.includes(t.name));
}

function describe(f: Figures): string {
  const cpu = f.cpuPer100kEchoes === null ? '' : `, ${f.cpuPer100kEchoes.toFixed(3)} CPU s/100k`;
  return (
    `${f.handshakesC1.toFixed(0)} | ${f.handshakesC32.toFixed(0)} hs/s, p50 ${f.p50Micros.toFixed(0)} µs, ` +
    `p99 ${f.p99Micros.toFixed(0)} µs, ${f.echoesPerSecond.toFixed(0)} echoes/s${cpu}`
  );
}

async function bench(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const clockTicks = clockTicksPerSecond();
  const targets = selectTargets(options.targets);
  const backend = await startBackend();
  const generator = startGenerator();
  const running: Running[] = [];
  for (const target of targets)
    running.push(await startTarget(target, backend.child, backend.port, options.dist));
  log(
    `started ${running.map((r) => `${r.target.name}:${r.endpoint.port}`).join(' ')}, backend :${backend.port}`,
  );

  const checkAlive = (): void => {
    for (const r of running)
      if (r.child !== undefined && !alive(r.child)) throw new Error(`${r.target.name} died`);
    if (!alive(backend.child)) throw new Error('echo-backend died');
  };
  for (const r of running) {
    log(`warm-up ${r.target.name}`);
    await visit(generator, r.endpoint, r.pids, options.warmup, clockTicks);
    checkAlive();
  }
  const visits = new Map<string, Visit[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const r of running) {
      const waited = await waitForQuiet(options.durations.quietWaitMs);
      if (waited > 0) log(`waited ${(waited / 1000).toFixed(1)} s for the machine to be quiet`);
      const result = await visit(generator, r.endpoint, r.pids, options.durations, clockTicks);
      checkAlive();
      visits.get(r.target.name)!.push(result);
      log(`round ${round}/${options.rounds} ${r.target.name}: ${describe(result.figures)}`);
    }
  }

  const figures = (name: string): Figures[] => visits.get(name)!.map((v) => v.figures);
  const allMedians = new Map(targets.map((t) => [t.name, medians(figures(t.name))]));
  const allSpreads = new Map(targets.map((t) => [t.name, spreads(figures(t.name))]));
  const d = options.durations;
  const settings =
    `${options.quick ? 'quick, ' : ''}handshakes ${d.handshakesMs} ms at c=${HANDSHAKE_CONCURRENCY.join(' and c=')}; ` +
    `32-byte RTT ${d.latencyMs} ms at c=1; echoes ${d.echoMs} ms with ${ECHO_CONNECTIONS} connections × ` +
    `${ECHO_WINDOW} in flight; proxy CPU from /proc/<pid>/stat (handshake CPU from the c=32 phase).`;
  const seconds = (performance.now() - started) / 1000;
  const outside = outsideLoad([...visits.values()].flat().map((v) => v.outsideShare));
  const warnings = sanityWarnings(allMedians);
  if (outside.max > OUTSIDE_WARNING)
    warnings.push(`other processes used up to ${(outside.max * 100).toFixed(0)}% of the CPU during a visit`);
  const report = {
    date: new Date().toISOString(),
    machine: machine(clockTicks),
    settings,
    options,
    targets: targets.map(({ name, description }) => ({ name, description })),
    warnings,
    seconds,
    outside,
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
