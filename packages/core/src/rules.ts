/** Why: the ordered rule table is a core concept (Apache ProxyPass: first match wins), fed by the gateway and every adapter. */

import { configError } from './errors.ts';
import type { PrefixRule, TargetOptions } from './options.ts';
import { resolveTarget, type Target } from './target.ts';

/** A rule after validation. */
export interface CompiledRule {
  /** Position in the table, from 0. */
  readonly index: number;
  readonly path: string;
  readonly target: Target;
}

/** The result of matching a request-target against the table. */
export interface RuleMatch {
  readonly rule: CompiledRule;
  /** Path and query to send to the backend, byte for byte. */
  readonly backendPath: string;
}

/** An ordered table of prefix rules (Apache `ProxyPass`); the first rule that matches wins. */
export class RuleTable {
  readonly rules: readonly CompiledRule[];

  constructor(rules: readonly PrefixRule[], defaults: TargetOptions = {}) {
    if (!Array.isArray(rules)) configError('ERR_WSTUNNEL_INVALID_RULE', 'rules must be an array');
    const compiled: CompiledRule[] = [];
    for (const [index, rule] of rules.entries()) {
      const where = `rule #${index + 1}`;
      if (typeof rule?.path !== 'string' || !rule.path.startsWith('/') || /[\s?#]/.test(rule.path)) {
        configError(
          'ERR_WSTUNNEL_INVALID_RULE',
          `${where}: path must start with "/" and hold no whitespace, "?" or "#"`,
        );
      }
      const { path, target, ...own } = rule;
      const resolved = resolveTarget(target, { ...defaults, ...own }, `${where} (${path})`);
      if (path.endsWith('/') !== resolved.basePath.endsWith('/')) {
        configError(
          'ERR_WSTUNNEL_INVALID_RULE',
          `${where}: path "${path}" and target "${resolved.url}" disagree on the trailing slash, so "${path}x" would map to a wrong backend path`,
        );
      }
      const shadow = compiled.find((earlier) => prefixLength(path, earlier.path) >= 0);
      if (shadow !== undefined) {
        configError(
          'ERR_WSTUNNEL_INVALID_RULE',
          `${where}: path "${path}" can never match, rule #${shadow.index + 1} ("${shadow.path}") comes first and matches everything it would`,
        );
      }
      compiled.push({ index, path, target: resolved });
    }
    this.rules = compiled;
  }

  /** Matches an origin-form request-target (`/path?query`); `undefined` when no rule applies. */
  match(requestTarget: string): RuleMatch | undefined {
    const queryAt = requestTarget.indexOf('?');
    const path = queryAt === -1 ? requestTarget : requestTarget.slice(0, queryAt);
    for (const rule of this.rules) {
      const consumed = prefixLength(path, rule.path);
      if (consumed < 0) continue;
      const query = queryAt === -1 ? '' : requestTarget.slice(queryAt + 1);
      return { rule, backendPath: joinBackendPath(rule.target, path.slice(consumed), query, queryAt !== -1) };
    }
    return undefined;
  }
}

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

function joinBackendPath(target: Target, remainder: string, query: string, hasQuery: boolean): string {
  const path = target.basePath + remainder || '/';
  if (target.baseQuery === '') return hasQuery ? `${path}?${query}` : path;
  return query === '' ? `${path}?${target.baseQuery}` : `${path}?${target.baseQuery}&${query}`;
}
