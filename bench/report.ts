/** Why: turns the rounds into medians and same-run ratios, and renders them as the markdown table people read and compare. */

import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { type GoalCheck, goalLines } from './goals.ts';
import type { Figures } from './visit.ts';

interface Column {
  readonly key: keyof Figures;
  readonly title: string;
  readonly higherIsBetter: boolean;
  readonly digits: number;
}

const COLUMNS: readonly Column[] = [
  { key: 'handshakesC1', title: 'handshakes/s c=1', higherIsBetter: true, digits: 0 },
  { key: 'handshakesC32', title: 'handshakes/s c=32', higherIsBetter: true, digits: 0 },
  { key: 'p50Micros', title: 'RTT p50 µs', higherIsBetter: false, digits: 0 },
  { key: 'p99Micros', title: 'RTT p99 µs', higherIsBetter: false, digits: 0 },
  { key: 'echoesPerSecond', title: 'echoes/s 64×16', higherIsBetter: true, digits: 0 },
  { key: 'cpuPer100kEchoes', title: 'proxy CPU s/100k echoes', higherIsBetter: false, digits: 3 },
  { key: 'cpuPer1kHandshakes', title: 'proxy CPU s/1k handshakes', higherIsBetter: false, digits: 3 },
  { key: 'bulkMiBPerSecond', title: 'bulk MiB/s (1 MiB msgs)', higherIsBetter: true, digits: 0 },
  { key: 'rssKiBPerTunnel2k', title: 'RSS KiB/tunnel @2 000', higherIsBetter: false, digits: 1 },
  { key: 'rssKiBPerTunnelLarge', title: 'RSS KiB/tunnel @large', higherIsBetter: false, digits: 1 },
];
/** Every figure with a median: the columns, and those only in the JSON. */
const FIGURE_KEYS: readonly (keyof Figures)[] = [
  ...COLUMNS.map((c) => c.key),
  'cpuPerGiB',
  'largeIdleTunnels',
];

export type Medians = Readonly<Record<keyof Figures, number | null>>;

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly kernel: string;
  readonly clockTicks: number;
}

export function machine(clockTicks: number): Machine {
  let cpu = 'unknown CPU';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) cpu = line.slice(line.indexOf(':') + 1).trim();
  } catch {}
  return { cpu, cores: availableParallelism(), node: process.version, kernel: release(), clockTicks };
}

export function machineLine(m: Machine): string {
  return (
    `${m.cpu}, ${m.cores} cores, Node ${m.node}, Linux ${m.kernel}, CLK_TCK ${m.clockTicks}. ` +
    `The ${m.cores} cores are shared by the load generator, the proxy and the echo backend.`
  );
}

/** Median of each figure over rounds (null when a figure does not apply, e.g. proxy CPU of `direct`). */
export function medians(rounds: readonly Figures[]): Medians {
  const out: Partial<Record<keyof Figures, number | null>> = {};
  for (const key of FIGURE_KEYS) {
    const values = rounds.map((figures) => figures[key]).filter((v): v is number => v !== null);
    out[key] = values.length === 0 ? null : median(values);
  }
  return out as Medians;
}

/** (max − min) / median of each figure over rounds, as a fraction. */
export function spreads(rounds: readonly Figures[]): Medians {
  const out: Partial<Record<keyof Figures, number | null>> = {};
  for (const key of FIGURE_KEYS) {
    const values = rounds.map((figures) => figures[key]).filter((v): v is number => v !== null);
    out[key] = values.length < 2 ? null : (Math.max(...values) - Math.min(...values)) / median(values);
  }
  return out as Medians;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Each figure divided by the reference's, or null when either is missing. */
export function ratios(of: Medians, to: Medians | undefined): Medians {
  const out: Partial<Record<keyof Figures, number | null>> = {};
  for (const key of FIGURE_KEYS) {
    const a = of[key];
    const b = to?.[key];
    out[key] = a === null || b === null || b === undefined || b === 0 ? null : a / b;
  }
  return out as Medians;
}

export interface ReportInput {
  readonly machine: Machine;
  readonly settings: string;
  /** Extra lines under the settings (e.g. why fewer idle tunnels than asked). */
  readonly notes: readonly string[];
  readonly targets: readonly { readonly name: string; readonly description: string }[];
  readonly medians: ReadonlyMap<string, Medians>;
  readonly spreads: ReadonlyMap<string, Medians>;
  readonly rounds: number;
  readonly seconds: number;
  /** Largest and median share of machine CPU used outside the bench during measurement windows. */
  readonly outside: { readonly max: number; readonly median: number };
  readonly warnings: readonly string[];
  readonly goals: readonly GoalCheck[];
}

export function markdown(input: ReportInput): string {
  const names = input.targets.map((t) => t.name);
  const direct = input.medians.get('direct');
  const hpm = input.medians.get('hpm');
  const table = tableWith(largeTunnelsLabel(input.medians));
  const lines = [
    `## wstunnel bench: medians of ${input.rounds} interleaved round${input.rounds === 1 ? '' : 's'}`,
    '',
    `Machine: ${machineLine(input.machine)}`,
    '',
    `Settings: ${input.settings}`,
    ...input.notes.flatMap((note) => ['', note]),
    '',
    ...table(
      names,
      (name) => input.medians.get(name),
      (v, c) => formatNumber(v, c.digits),
    ),
    '',
    'Ratios to `direct` (target ÷ direct; for RTT and CPU lower is better):',
    '',
    ...table(names, (name) => ratios(input.medians.get(name)!, direct), formatRatio),
    '',
    'Ratios to `hpm` (target ÷ hpm, same run):',
    '',
    ...table(names, (name) => ratios(input.medians.get(name)!, hpm), formatRatio),
    '',
    ...goalLines(input.goals),
    '',
    'Spread over rounds ((max − min) ÷ median):',
    '',
    ...table(
      names,
      (name) => input.spreads.get(name),
      (v) => (v === null ? '—' : percent(v)),
    ),
    '',
    'Targets:',
    '',
    ...input.targets.map((t) => `- \`${t.name}\`: ${t.description}`),
    '',
    `Every echo was verified (count and bytes). Run time ${input.seconds.toFixed(0)} s. ` +
      `CPU used outside the bench (other jobs, kernel threads) during measurement: median ` +
      `${percent(input.outside.median)}, worst visit ${percent(input.outside.max)} of the machine.`,
  ];
  if (input.warnings.length > 0) lines.push('', ...input.warnings.map((w) => `**Warning:** ${w}`));
  return `${lines.join('\n')}\n`;
}

/** "9 950" when every target opened the same larger count of idle tunnels, else a pointer to the notes. */
export function largeTunnelsLabel(all: ReadonlyMap<string, Medians>): string {
  const counts = new Set([...all.values()].map((m) => m.largeIdleTunnels).filter((n) => n !== null));
  return counts.size === 1 ? spaced([...counts][0]!) : 'largest (see notes)';
}

/** A whole number with a space between thousands, as in "9 950". */
export function spaced(n: number): string {
  return Math.round(n).toLocaleString('en-US').replaceAll(',', ' ');
}

type Table = (
  names: readonly string[],
  row: (name: string) => Medians | undefined,
  format: (value: number | null, column: Column) => string,
) => string[];

function tableWith(largeTunnels: string): Table {
  const title = (c: Column): string =>
    c.key === 'rssKiBPerTunnelLarge' ? `RSS KiB/tunnel @${largeTunnels}` : c.title;
  return (names, row, format) => {
    const header = `| target | ${COLUMNS.map(title).join(' | ')} |`;
    const rule = `|---|${COLUMNS.map(() => '---:').join('|')}|`;
    const body = names.map((name) => {
      const values = row(name);
      return `| ${name} | ${COLUMNS.map((c) => format(values?.[c.key] ?? null, c)).join(' | ')} |`;
    });
    return [header, rule, ...body];
  };
}

function formatNumber(value: number | null, digits: number): string {
  if (value === null || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(0)}%`;
}

/** Median and largest of the per-visit outside-CPU shares. */
export function outsideLoad(shares: readonly number[]): { max: number; median: number } {
  return shares.length === 0 ? { max: 0, median: 0 } : { max: Math.max(...shares), median: median(shares) };
}

function formatRatio(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

/** Sanity checks on the medians: `direct` should beat every proxy on rates and latency. */
export function sanityWarnings(all: ReadonlyMap<string, Medians>): string[] {
  const direct = all.get('direct');
  if (direct === undefined) return [];
  const warnings: string[] = [];
  for (const [name, values] of all) {
    if (name === 'direct') continue;
    for (const column of COLUMNS) {
      const a = values[column.key];
      const d = direct[column.key];
      if (a === null || d === null) continue;
      if (column.higherIsBetter ? a > d : a < d)
        warnings.push(
          `${name} beat direct on "${column.title}" (${formatNumber(a, column.digits)} vs ${formatNumber(d, column.digits)})`,
        );
    }
  }
  return warnings;
}
