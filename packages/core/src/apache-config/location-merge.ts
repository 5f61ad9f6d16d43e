/**
 * Why: httpd merges the per-directory options of every `<Location>` matching a request, in declaration order (later
 * ones win), so an outer `<Location /app/>` sets ProxyPreserveHost for a `<Location /app/admin/>` ProxyPass too.
 */

import { prefixLength } from '../rule-shadowing.ts';
import { fail, type IgnoredDirective } from './error.ts';
import type { LocationSettings, PlacedRule } from './scope.ts';

const LOCATION_KEYS = ['fallbackToHttp', 'preserveHost', 'xForwarded'] as const;

/**
 * Gives each path `<Location>` ProxyPass the merged options of every path Location whose path covers its own.
 * Options that reach no ProxyPass are an error; with rewrite rules present, a note says they do not reach those.
 */
export function mergeLocationOptions(
  rules: readonly PlacedRule[],
  settings: readonly LocationSettings[],
  rewriting: boolean,
): { rules: PlacedRule[]; notes: IgnoredDirective[] } {
  const paths = rules.map(({ rule }) => ('path' in rule && 'target' in rule ? rule.path : undefined));
  for (const block of settings) {
    if (!paths.some((path) => path !== undefined && prefixLength(path, block.path) >= 0)) {
      fail(
        block.place,
        'this <Location> option reaches no ProxyPass',
        'wstunnel applies <Location> options to the ProxyPass of that Location and of Locations under it: add one, or move the option to server level',
      );
    }
  }
  const merged = rules.map((placed, at) => {
    const path = paths[at];
    if (path === undefined) return placed;
    const options: Record<string, unknown> = {};
    for (const block of settings)
      if (prefixLength(path, block.path) >= 0) Object.assign(options, block.options);
    if (Object.keys(options).length === 0) return placed;
    const rest: Record<string, unknown> = { ...placed.rule };
    for (const key of LOCATION_KEYS) delete rest[key];
    return { ...placed, rule: { ...rest, ...options } as PlacedRule['rule'] };
  });
  const notes = rewriting
    ? settings.map((block) => ({
        ...block.place,
        directive: `<Location ${block.path}> options`,
        reason: `they apply to ProxyPass rules under ${block.path} only; httpd would also apply them to RewriteRule [P] requests under it (set them at server level for those)`,
      }))
    : [];
  return { rules: merged, notes };
}
