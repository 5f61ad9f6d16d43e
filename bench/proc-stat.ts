/**
 * Why: CPU is read from the kernel's per-process counters (/proc/<pid>/stat utime+stime), so every target is
 * measured the same way whatever it is written in, including multi-process ones (nginx workers).
 */

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Processes scanned when looking for descendants; a bound, not an expectation. */
const MAX_PROCESSES = 100_000;

/** Clock ticks per second of the stat counters (`getconf CLK_TCK`, 100 when that cannot be run). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

interface Stat {
  readonly ppid: number;
  readonly ticks: number;
}

/** utime+stime and parent of one process, or undefined once it is gone. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** `pid` followed by all its live descendants (breadth first). Throws when `pid` itself is gone. */
export function processTree(pid: number): number[] {
  if (readStat(pid) === undefined) throw new Error(`process ${pid} is gone`);
  const children = new Map<number, number[]>();
  const entries = readdirSync('/proc');
  for (let i = 0; i < entries.length && i < MAX_PROCESSES; i++) {
    const other = Number(entries[i]);
    if (!Number.isInteger(other) || other === pid) continue;
    const stat = readStat(other);
    if (stat === undefined) continue;
    const siblings = children.get(stat.ppid);
    if (siblings === undefined) children.set(stat.ppid, [other]);
    else siblings.push(other);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length && i < MAX_PROCESSES; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** CPU ticks used so far by `pid` and all its live descendants. Throws when `pid` itself is gone. */
export function treeTicks(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) ticks += readStat(member)?.ticks ?? 0;
  return ticks;
}

/** Busy and total CPU ticks of the whole machine so far (first line of /proc/stat), to spot load from outside the bench. */
export function machineTicks(): { readonly busy: number; readonly total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}
