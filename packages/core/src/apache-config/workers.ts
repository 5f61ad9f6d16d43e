/**
 * Why: httpd keeps worker parameters per worker, not per ProxyPass: a ProxyPass, <Proxy> or ProxySet whose URL starts
 * with an existing worker's name shares that worker (its own parameters are then ignored, AH01146), a later ProxySet
 * changes it for every rule using it, and RewriteRule [P] targets use it too. Replaying the file in order does the same.
 */

import type { Rule } from '../options.ts';
import type { IgnoredDirective } from './error.ts';
import type { PlacedRule, WorkerTuning } from './scope.ts';
import type { WorkerOptions } from './worker-params.ts';

const WORKER_KEYS = ['upgrade', 'timeout', 'connectTimeout', 'keepAlive', 'max'] as const;

interface Worker {
  readonly name: string;
  readonly options: { -readonly [K in keyof WorkerOptions]: WorkerOptions[K] };
}

/** `scheme://authority` is compared case-insensitively, the path as written (httpd's worker name matching). */
export function startsWithUrl(url: string, name: string): boolean {
  const split = (text: string): [origin: string, path: string] => {
    const slash = text.indexOf('/', text.indexOf('//') + 2);
    return slash === -1 ? [text.toLowerCase(), ''] : [text.slice(0, slash).toLowerCase(), text.slice(slash)];
  };
  const [origin, path] = split(url);
  const [nameOrigin, namePath] = split(name);
  return origin === nameOrigin && path.startsWith(namePath);
}

/** A rule's backend URL as a worker name: up to the first backreference of a ProxyPassMatch target. */
function urlOf(rule: Rule): string | undefined {
  if (!('target' in rule)) return undefined;
  const target = String(rule.target);
  // A balancer is no worker: its members carry the worker parameters (see balancer.ts).
  if (/^balancer:/i.test(target)) return undefined;
  // In a ProxyPass URL, %20 is an escape; only ProxyPassMatch and RewriteRule targets hold backreferences.
  if ('path' in rule) return target;
  const backreference = target.search(/[$%]\d/);
  return backreference === -1 ? target : target.slice(0, backreference);
}

function splitWorkerOptions(rule: Rule): { own: WorkerOptions; rest: Rule } {
  const own: Record<string, unknown> = {};
  const rest: Record<string, unknown> = { ...rule };
  for (const key of WORKER_KEYS) {
    if (key in rest) {
      own[key] = rest[key];
      delete rest[key];
    }
  }
  return { own: own as WorkerOptions, rest: rest as unknown as Rule };
}

/** The ProxyPass rules (server and `<Location>`) and `<Proxy>`/`ProxySet` tunings of one server, main or virtual. */
export interface WorkerScope {
  readonly defining: readonly PlacedRule[];
  readonly tunings: readonly WorkerTuning[];
}

/**
 * Gives each rule the parameters of the worker httpd would use for it. Each server replays its ProxyPass rules and
 * tunings in file order, creating or sharing workers; a virtual host sees the main server's workers first (a tie goes
 * to them), the main server never sees the virtual host's. RewriteRule [P] targets (`using`) only look workers up.
 */
export function shareWorkers(
  main: WorkerScope,
  vhost: WorkerScope | undefined,
  using: readonly PlacedRule[],
): { resolve(placed: PlacedRule): PlacedRule; notes: IgnoredDirective[] } {
  const notes: IgnoredDirective[] = [];
  const workerOf = new Map<PlacedRule, Worker>();
  const mainWorkers = replay(main, [], workerOf, notes);
  const all =
    vhost === undefined ? mainWorkers : [...mainWorkers, ...replay(vhost, mainWorkers, workerOf, notes)];
  const apply = (placed: PlacedRule, worker: Worker | undefined): PlacedRule =>
    worker === undefined
      ? placed
      : { ...placed, rule: { ...splitWorkerOptions(placed.rule).rest, ...worker.options } };
  const usingSet = new Set(using);
  return {
    resolve(placed) {
      if (!usingSet.has(placed)) return apply(placed, workerOf.get(placed));
      const url = urlOf(placed.rule);
      return apply(placed, url === undefined ? undefined : longest(all, url));
    },
    notes,
  };
}

/** The worker with the longest name that `url` starts with; on a tie, the first in `workers`. */
function longest(workers: readonly Worker[], url: string): Worker | undefined {
  let best: Worker | undefined;
  for (const worker of workers) {
    if (startsWithUrl(url, worker.name) && (best === undefined || worker.name.length > best.name.length))
      best = worker;
  }
  return best;
}

/** Replays one server's definitions in file order; returns the workers it created. */
function replay(
  scope: WorkerScope,
  inherited: readonly Worker[],
  workerOf: Map<PlacedRule, Worker>,
  notes: IgnoredDirective[],
): Worker[] {
  const local: Worker[] = [];
  const events = [
    ...scope.defining.map((placed) => ({ line: placed.place.line, placed, tuning: undefined })),
    ...scope.tunings.map((tuning) => ({ line: tuning.place.line, placed: undefined, tuning })),
  ].sort((a, b) => a.line - b.line);
  for (const { placed, tuning } of events) {
    const url = placed === undefined ? tuning!.url : urlOf(placed.rule);
    if (url === undefined) continue;
    const own = placed === undefined ? tuning!.options : splitWorkerOptions(placed.rule).own;
    const shared = longest([...inherited, ...local], url);
    if (shared === undefined) {
      const worker: Worker = { name: url, options: { ...own } };
      local.push(worker);
      if (placed !== undefined) workerOf.set(placed, worker);
    } else if (placed === undefined) {
      Object.assign(shared.options, own);
    } else {
      workerOf.set(placed, shared);
      if (Object.keys(own).length > 0) {
        notes.push({
          ...placed.place,
          directive: placed.written,
          reason: `its parameters are ignored: it shares the worker ${shared.name} (httpd AH01146); set them with ProxySet ${shared.name}`,
        });
      }
    }
  }
  return local;
}
