/** Why: a rule that can never match is a configuration mistake Apache accepts silently; it is reported when the table is built. */

import { configError } from './errors.ts';
import type { CompiledRule } from './rules.ts';

/**
 * Apache's alias_match (mod_proxy.c): segment-aware prefix match where a run of `/` in the prefix matches
 * a run of `/` in the path. Returns how many characters of `path` the prefix consumed, or -1.
 */
export function prefixLength(path: string, prefix: string): number {
  let p = 0;
  let u = 0;
  while (p < prefix.length) {
    if (prefix.charCodeAt(p) === 0x2f) {
      if (path.charCodeAt(u) !== 0x2f) return -1;
      while (prefix.charCodeAt(p) === 0x2f) p++;
      while (path.charCodeAt(u) === 0x2f) u++;
    } else {
      if (path.charCodeAt(u) !== prefix.charCodeAt(p)) return -1;
      p++;
      u++;
    }
  }
  if (!prefix.endsWith('/') && u < path.length && path.charCodeAt(u) !== 0x2f) return -1;
  return u;
}

/**
 * Throws when a rule can never match because an earlier prefix or exclusion takes every request it would: a prefix
 * under an earlier prefix, or any rule after a `/` prefix (the classic "ProxyPass / first" mistake). An earlier
 * WebSocket-only rule (fallback off) lets plain requests through, so it shadows only a prefix rule that is
 * WebSocket-only too and tunnels no token it does not. Whether two regular expressions overlap is not analysed.
 */
export function checkRuleShadowing(rules: readonly CompiledRule[]): void {
  for (const later of rules) {
    const path = prefixOf(later);
    for (const earlier of rules) {
      if (earlier.index >= later.index) break;
      const earlierPath = prefixOf(earlier);
      if (earlierPath === undefined) continue;
      const covers = path === undefined ? /^\/+$/.test(earlierPath) : prefixLength(path, earlierPath) >= 0;
      if (!covers || !takesAll(earlier, later)) continue;
      configError(
        'ERR_WSTUNNEL_INVALID_RULE',
        `rule #${later.index + 1}: ${path === undefined ? 'this rule' : `path "${path}"`} can never match, rule #${earlier.index + 1} ("${earlierPath}") comes first and takes every request it would`,
      );
    }
  }
}

function prefixOf(rule: CompiledRule): string | undefined {
  return rule.kind === 'prefix' || rule.kind === 'exclude' ? rule.path : undefined;
}

function takesAll(earlier: CompiledRule, later: CompiledRule): boolean {
  if (earlier.kind !== 'prefix') return true;
  const first = earlier.target;
  if (!first.websocketScheme || first.fallbackToHttp) return true;
  if (later.kind !== 'prefix') return false;
  const second = later.target;
  if (!second.websocketScheme || second.fallbackToHttp) return false;
  if (first.upgrade === '*') return true;
  if (second.upgrade === '*' || second.upgrade === 'none' || first.upgrade === 'none') return false;
  return second.upgrade.every((token) => (first.upgrade as readonly string[]).includes(token));
}
