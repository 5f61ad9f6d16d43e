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
function startsWithUrl(url: string, name: string): boolean {
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

/**
 * Gives each rule the parameters of the worker httpd would use for it. `defining` are the ProxyPass rules (server and
 * `<Location>`), which create or share workers in file order together with `tunings`; `using` (RewriteRule [P]) only
 * look workers up. Returns both lists with worker parameters replaced, and notes for ignored parameters.
 */
export function shareWorkers(
  defining: readonly PlacedRule[],
  tunings: readonly WorkerTuning[],
  using: readonly PlacedRule[],
): { defining: PlacedRule[]; using: PlacedRule[]; notes: IgnoredDirective[] } {
  const workers: Worker[] = [];
  const find = (url: string): Worker | undefined =>
    workers
      .filter((worker) => startsWithUrl(url, worker.name))
      .reduce<Worker | undefined>(
        (best, worker) => (best && best.name.length >= worker.name.length ? best : worker),
        undefined,
      );
  const notes: IgnoredDirective[] = [];
  const workerOf = new Map<PlacedRule, Worker>();
  const events = [
    ...defining.map((placed) => ({ line: placed.place.line, placed, tuning: undefined })),
    ...tunings.map((tuning) => ({ line: tuning.place.line, placed: undefined, tuning })),
  ].sort((a, b) => a.line - b.line);
  for (const { placed, tuning } of events) {
    const url = placed === undefined ? tuning!.url : urlOf(placed.rule);
    if (url === undefined) continue;
    const own = placed === undefined ? tuning!.options : splitWorkerOptions(placed.rule).own;
    const shared = find(url);
    if (shared === undefined) {
      const worker: Worker = { name: url, options: { ...own } };
      workers.push(worker);
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
  const apply = (placed: PlacedRule, worker: Worker | undefined): PlacedRule =>
    worker === undefined
      ? placed
      : { ...placed, rule: { ...splitWorkerOptions(placed.rule).rest, ...worker.options } };
  return {
    defining: defining.map((placed) => apply(placed, workerOf.get(placed))),
    using: using.map((placed) => {
      const url = urlOf(placed.rule);
      return apply(placed, url === undefined ? undefined : find(url));
    }),
    notes,
  };
}
