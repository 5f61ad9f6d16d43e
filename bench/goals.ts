/** Why: the spec's performance goals, each checked against medians of the same run, so a verdict never compares figures from different days. */

import type { Medians } from './report.ts';
import type { Figures } from './visit.ts';

/** `of`'s figure, divided by `to`'s when given, must lie within [min, max]. */
interface Goal {
  readonly text: string;
  readonly of: string;
  readonly figure: keyof Figures;
  readonly to?: string;
  readonly min?: number;
  readonly max?: number;
  /** Unit of an absolute figure (goals without `to`). */
  readonly unit?: string;
}

export interface GoalCheck {
  readonly goal: string;
  /** The ratio (or absolute figure), or null when a target or figure is missing from the run. */
  readonly measured: number | null;
  readonly unit: string;
  readonly met: boolean | null;
}

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;

const GOALS: readonly Goal[] = [
  {
    text: '`wstunnel` handshakes/s c=32 ≥ 1.3× `hpm`',
    of: 'wstunnel',
    figure: 'handshakesC32',
    to: 'hpm',
    min: 1.3,
  },
  {
    text: '`wstunnel` handshakes/s c=32 ≥ 1.0× `nginx`',
    of: 'wstunnel',
    figure: 'handshakesC32',
    to: 'nginx',
    min: 1,
  },
  {
    text: '`wstunnel` proxy CPU per message ≤ 0.8× `hpm`',
    of: 'wstunnel',
    figure: 'cpuPer100kEchoes',
    to: 'hpm',
    max: 0.8,
  },
  {
    text: '`wstunnel` proxy CPU per message ≤ 1.0× `nginx`',
    of: 'wstunnel',
    figure: 'cpuPer100kEchoes',
    to: 'nginx',
    max: 1,
  },
  {
    text: '`wstunnel` bulk MiB/s ≥ 1.2× `hpm`',
    of: 'wstunnel',
    figure: 'bulkMiBPerSecond',
    to: 'hpm',
    min: 1.2,
  },
  {
    text: '`wstunnel` bulk MiB/s ≥ 0.9× `haproxy`',
    of: 'wstunnel',
    figure: 'bulkMiBPerSecond',
    to: 'haproxy',
    min: 0.9,
  },
  { text: '`wstunnel` RTT p50 ≤ 1.0× `nginx`', of: 'wstunnel', figure: 'p50Micros', to: 'nginx', max: 1 },
  { text: '`wstunnel` RTT p99 ≤ 1.0× `nginx`', of: 'wstunnel', figure: 'p99Micros', to: 'nginx', max: 1 },
  {
    text: '`wstunnel` RSS per idle tunnel ≤ 12 KiB @2 000',
    of: 'wstunnel',
    figure: 'rssKiBPerTunnel2k',
    max: 12,
    unit: ' KiB',
  },
  {
    text: '`wstunnel` RSS per idle tunnel ≤ 12 KiB @large',
    of: 'wstunnel',
    figure: 'rssKiBPerTunnelLarge',
    max: 12,
    unit: ' KiB',
  },
  ...FRAMEWORKS.flatMap((name): Goal[] => [
    {
      text: `\`${name}\` handshakes/s c=32 ≥ 0.8× \`wstunnel\``,
      of: name,
      figure: 'handshakesC32',
      to: 'wstunnel',
      min: 0.8,
    },
    {
      text: `\`${name}\` proxy CPU per message within ±10% of \`wstunnel\``,
      of: name,
      figure: 'cpuPer100kEchoes',
      to: 'wstunnel',
      min: 0.9,
      max: 1.1,
    },
  ]),
];

/** Checks every goal; `largeTunnels` names the larger idle-tunnel count actually opened (e.g. "9 950"). */
export function checkGoals(medians: ReadonlyMap<string, Medians>, largeTunnels: string): GoalCheck[] {
  return GOALS.map((goal) => {
    const value = medians.get(goal.of)?.[goal.figure] ?? null;
    const reference = goal.to === undefined ? 1 : (medians.get(goal.to)?.[goal.figure] ?? null);
    const measured =
      value === null || reference === null || reference === 0 || Number.isNaN(value)
        ? null
        : value / reference;
    const met =
      measured === null
        ? null
        : (goal.min === undefined || measured >= goal.min) &&
          (goal.max === undefined || measured <= goal.max);
    return {
      goal: goal.text.replace('@large', `@${largeTunnels}`),
      measured,
      unit: goal.unit ?? '×',
      met,
    };
  });
}

export function goalLines(checks: readonly GoalCheck[]): string[] {
  const met = checks.filter((c) => c.met === true).length;
  const missing = checks.filter((c) => c.met === null).length;
  return [
    `Goals (same-run medians; ratios are goal target ÷ reference): ${met} of ${checks.length - missing} measured ` +
      `goals met${missing === 0 ? '' : `, ${missing} not measured (target missing from the run)`}.`,
    '',
    '| goal | measured | met |',
    '|---|---:|:---:|',
    ...checks.map(
      (c) =>
        `| ${c.goal} | ${c.measured === null ? 'not measured' : `${c.measured.toFixed(c.unit === '×' ? 2 : 1)}${c.unit}`} | ` +
        `${c.met === null ? '—' : c.met ? '✅' : '❌'} |`,
    ),
  ];
}
