/** Why: idle-tunnel memory is read from the kernel (VmRSS of the proxy's whole process tree), and the tunnel count is bounded by its open-files limit. */

import { readdirSync, readFileSync } from 'node:fs';
import { processTree } from './proc-stat.ts';

/** Resident set size in KiB of `pid` and all its live descendants. Throws when `pid` itself is gone. */
export function treeRssKiB(pid: number): number {
  let kib = 0;
  for (const member of processTree(pid)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${member}/status`, 'latin1');
    } catch {
      continue; // exited since the walk
    }
    // Kernel threads and zombies have no VmRSS line.
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (match !== null) kib += Number(match[1]);
  }
  return kib;
}

export interface OpenFilesLimit {
  readonly soft: number;
  readonly hard: number;
}

/** Smallest "Max open files" limits in the tree of `pid` (the process holding the tunnels has at most these). */
export function openFilesLimit(pid: number): OpenFilesLimit {
  let soft = Number.POSITIVE_INFINITY;
  let hard = Number.POSITIVE_INFINITY;
  for (const member of processTree(pid)) {
    let limits: string;
    try {
      limits = readFileSync(`/proc/${member}/limits`, 'latin1');
    } catch {
      continue;
    }
    // "Max open files            20000                20000                files"; either may be "unlimited".
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
    if (match === null) continue;
    if (match[1] !== 'unlimited') soft = Math.min(soft, Number(match[1]));
    if (match[2] !== 'unlimited') hard = Math.min(hard, Number(match[2]));
  }
  return { soft, hard };
}

/** Open file descriptors of each process in the tree of `pid`, for error messages. */
export function openFileCounts(pid: number): string {
  return processTree(pid)
    .map((member) => {
      try {
        return `${member}: ${readdirSync(`/proc/${member}/fd`).length}`;
      } catch {
        return `${member}: ?`;
      }
    })
    .join(', ');
}
