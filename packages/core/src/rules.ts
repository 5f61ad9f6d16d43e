/** Why: the ordered rule table is a core concept (Apache ProxyPass, ProxyPassMatch, RewriteRule [P]: first match wins), fed by the gateway and every adapter. */

import type { IncomingMessage } from 'node:http';
import type { Balancer } from './balancer/balancer.ts';
import { type BalancerRegistry, balancerTarget, isBalancerUrl } from './balancer/balancer-target.ts';
import { type ConditionCheck, compileConditions, type RoutedRequest } from './conditions.ts';
import { configError } from './errors.ts';
import type { Rule, TargetOptions } from './options.ts';
import { compilePattern, type Pattern } from './pattern.ts';
import {
  type BadRequestPath,
  parseRequestPath,
  type RequestPath,
  unsafeBackendPath,
} from './request-path.ts';
import { checkRuleShadowing, prefixLength } from './rule-shadowing.ts';
import { parseSubstitution, type Substitution } from './substitution.ts';
import { resolveTarget, type Target } from './target.ts';
import { checkUpgradeRequest } from './upgrade-request.ts';

export { prefixLength } from './rule-shadowing.ts';

/** A rule after validation. */
export type CompiledRule =
  | {
      readonly kind: 'prefix';
      readonly index: number;
      readonly path: string;
      readonly target: Target;
      readonly balancer?: Balancer;
    }
  | {
      readonly kind: 'match' | 'rewrite';
      readonly index: number;
      readonly pattern: Pattern;
      readonly target: Target;
      readonly balancer?: Balancer;
      readonly substitution: Substitution;
      readonly conditions: ConditionCheck | undefined;
      readonly noEscape: boolean;
      readonly query: 'keep' | 'merge' | 'append' | 'discard';
    }
  | { readonly kind: 'exclude'; readonly index: number; readonly path?: string; readonly pattern?: Pattern };

/** How a request is to be handled, after the rule table has seen it. */
export type RouteDecision =
  /** No rule applies, or an exclusion matched: the request goes on to the next handler untouched. */
  | { readonly kind: 'pass' }
  /** Answer with this status (400 bad path, or an upgrade request that cannot be tunnelled) and close. */
  | { readonly kind: 'reject'; readonly status: number; readonly reason: string }
  /** Tunnel this upgrade, asking the backend for `token`. */
  | ({ readonly kind: 'tunnel'; readonly token: string } & RuleMatch)
  /** Proxy this as a plain HTTP request. */
  | ({ readonly kind: 'http' } & RuleMatch);

/** The rule that matched and where it sends the request. */
export interface RuleMatch {
  readonly rule: CompiledRule;
  /** The backend, or a stand-in for the balancer when `balancer` is set. */
  readonly target: Target;
  /** The balancer that picks the backend per session, for a `balancer://` target. */
  readonly balancer?: Balancer;
  /** Path and query to send to the backend (for a balancer, after the chosen member's URL path). */
  readonly backendPath: string;
  /** Fields to set on the backend request (`undefined` removes one), from an adapter's `headers` function. */
  readonly headers?: HeaderPatch;
}

/** Header fields set on a backend request by name (lower-case), `undefined` removing one; values already checked. */
export type HeaderPatch = ReadonlyMap<string, string | undefined>;

const PASS: RouteDecision = { kind: 'pass' };

/** An ordered table of rules; the first rule that matches wins. */
export class RuleTable {
  readonly rules: readonly CompiledRule[];

  constructor(rules: readonly Rule[], defaults: TargetOptions = {}, balancers?: BalancerRegistry) {
    if (!Array.isArray(rules)) configError('ERR_WSTUNNEL_INVALID_RULE', 'rules must be an array');
    const compiled = rules.map((rule, index) => compileRule(rule, index, defaults, balancers));
    checkRuleShadowing(compiled);
    this.rules = compiled;
  }

  /**
   * Routes a request: `requestTarget` is the origin-form target to route (default `req.url`; adapters pass a
   * mount-relative one). Pure and synchronous, so the dispatcher can ask before Node commits to an upgrade.
   * `captures`, when given, stand for `$1`-`$9` in place of what the rules' own patterns capture (a framework route
   * matched the request: its parameters are the captures).
   */
  route(
    req: IncomingMessage,
    requestTarget: string = req.url ?? '',
    captures?: readonly (string | undefined)[],
  ): RouteDecision {
    const parsed: RequestPath | BadRequestPath = parseRequestPath(requestTarget);
    if ('invalid' in parsed) return { kind: 'reject', status: 400, reason: parsed.invalid };
    const request: RoutedRequest = { req, ...parsed };
    const given = captures === undefined ? undefined : [request.path, ...captures];
    for (const rule of this.rules) {
      const decision = this.#apply(rule, request, given);
      if (decision !== undefined) return decision;
    }
    return PASS;
  }

  #apply(
    rule: CompiledRule,
    request: RoutedRequest,
    given: readonly (string | undefined)[] | undefined,
  ): RouteDecision | undefined {
    let backendPath: string;
    if (rule.kind === 'exclude') {
      const hit =
        rule.path !== undefined
          ? prefixLength(request.path, rule.path) >= 0
          : rule.pattern!.exec(request.path) !== null;
      return hit ? PASS : undefined;
    }
    if (rule.kind === 'prefix') {
      const consumed = prefixLength(request.path, rule.path);
      if (consumed < 0) return undefined;
      backendPath = withQuery(
        rule.target.basePath + request.path.slice(consumed),
        rule.target.baseQuery,
        request,
      );
    } else {
      const own = rule.pattern.exec(request.path);
      if (own === null) return undefined;
      const captures = given ?? own;
      const conditionCaptures = rule.conditions === undefined ? [] : rule.conditions(request, captures);
      if (conditionCaptures === undefined) return undefined;
      backendPath = substitute(rule, request, captures, conditionCaptures);
    }
    return decide(rule, backendPath, request.req);
  }
}

/** Whether a request the rule matched is tunnelled, proxied as HTTP, rejected, or passed to the next rule. */
function decide(
  rule: Exclude<CompiledRule, { kind: 'exclude' }>,
  path: string,
  req: IncomingMessage,
): RouteDecision | undefined {
  const { target, balancer } = rule;
  // A request-target starting with "//" reads as a network-path reference (//host/...) to WHATWG-URL backends.
  const backendPath = path.startsWith('//') ? path.replace(/^\/+/, '/') : path;
  const check = checkUpgradeRequest(req, target.upgrade);
  if (check.kind === 'malformed') return { kind: 'reject', status: 400, reason: check.reason };
  const unsafe = unsafeBackendPath(backendPath);
  if (unsafe !== undefined) return { kind: 'reject', status: 400, reason: unsafe };
  if (check.kind === 'upgrade')
    return { kind: 'tunnel', token: check.token, rule, target, backendPath, ...(balancer && { balancer }) };
  // ProxyWebsocketFallbackToProxyHttp Off: mod_proxy_wstunnel's check_trans declines, so the next rule is tried.
  if (target.websocketScheme && !target.fallbackToHttp) return undefined;
  return { kind: 'http', rule, target, backendPath, ...(balancer && { balancer }) };
}

function substitute(
  rule: Extract<CompiledRule, { kind: 'match' | 'rewrite' }>,
  request: RoutedRequest,
  captures: readonly (string | undefined)[],
  conditionCaptures: readonly (string | undefined)[],
): string {
  const { substitution } = rule;
  let built = substitution.expand(captures, conditionCaptures, rule.noEscape);
  // Apache's default substitution: a ProxyPassMatch target without backreference gets the whole path appended.
  if (rule.kind === 'match' && !substitution.hasBackreference) {
    const queryAt = built.indexOf('?');
    built =
      queryAt === -1 ? built + request.path : built.slice(0, queryAt) + request.path + built.slice(queryAt);
  }
  if (built === '' || built.startsWith('?')) built = `/${built}`;
  // mod_rewrite: a substitution ending in "?" asks for no query at all; for ProxyPassMatch it is an empty one.
  if (built.endsWith('?')) built = built.slice(0, -1);
  if (rule.query === 'discard' || !request.hasQuery) return built;
  // mod_rewrite replaces the client's query with the substitution's own, unless [QSA].
  if (substitution.hasQuery && rule.query === 'keep') return built;
  // mod_rewrite drops an empty query after [QSA] merged nothing into it.
  if (request.query === '' && rule.query === 'append') return built;
  if (!built.includes('?')) return `${built}?${request.query}`;
  return request.query === '' ? built : `${built}&${request.query}`;
}

function withQuery(path: string, baseQuery: string, request: RequestPath): string {
  const full = path || '/';
  if (baseQuery === '') return request.hasQuery ? `${full}?${request.query}` : full;
  return request.query === '' ? `${full}?${baseQuery}` : `${full}?${baseQuery}&${request.query}`;
}

function compileRule(
  rule: Rule,
  index: number,
  defaults: TargetOptions,
  balancers: BalancerRegistry | undefined,
): CompiledRule {
  const where = `rule #${index + 1}`;
  if (typeof rule !== 'object' || rule === null)
    configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: must be an object`);
  if ('exclude' in rule) {
    if (rule.exclude !== true) configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: exclude must be true`);
    if ('path' in rule) return { kind: 'exclude', index, path: checkPath(rule.path, where) };
    return { kind: 'exclude', index, pattern: compilePattern(rule.match, false, where) };
  }
  if ('path' in rule) {
    const { path: written, target, ...own } = rule;
    const path = checkPath(written, where);
    const { target: resolved, balancer } = ruleTarget(
      String(target),
      own,
      defaults,
      balancers,
      `${where} (${path})`,
    );
    if (path.endsWith('/') !== resolved.basePath.endsWith('/')) {
      configError(
        'ERR_WSTUNNEL_INVALID_RULE',
        `${where}: path "${path}" and target "${resolved.url}" disagree on the trailing slash, so "${path}x" would map to a wrong backend path; write "${path.endsWith('/') ? path.slice(0, -1) : `${path}/`}" or make the target ${resolved.basePath.endsWith('/') ? 'lose' : 'end with'} its "/"`,
      );
    }
    return { kind: 'prefix', index, path, target: resolved, ...(balancer && { balancer }) };
  }
  const isRewrite = 'rewrite' in rule;
  if (!isRewrite && !('match' in rule))
    configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: a rule needs "path", "match", "rewrite" or "exclude"`,
    );
  const { target, ...rest } = rule;
  const pattern = isRewrite
    ? (rule as { rewrite: string | RegExp }).rewrite
    : (rule as { match: string | RegExp }).match;
  const {
    match: _m,
    rewrite: _r,
    conditions,
    nocase,
    noEscape,
    query,
    ...own
  } = rest as Record<string, unknown>;
  if (
    !isRewrite &&
    (conditions !== undefined || nocase !== undefined || noEscape !== undefined || query !== undefined)
  ) {
    configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: conditions, nocase, noEscape and query belong to rewrite rules ({ rewrite, target })`,
    );
  }
  if (query !== undefined && query !== 'append' && query !== 'discard')
    configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: query must be 'append' or 'discard'`);
  const substitution = parseSubstitution(String(target), where);
  const resolved = ruleTarget(substitution.origin, own as TargetOptions, defaults, balancers, where);
  return {
    kind: isRewrite ? 'rewrite' : 'match',
    index,
    pattern: compilePattern(pattern, nocase === true, where),
    target: resolved.target,
    ...(resolved.balancer && { balancer: resolved.balancer }),
    substitution,
    conditions: compileConditions(conditions as Parameters<typeof compileConditions>[0], where),
    noEscape: noEscape === true,
    // ProxyPassMatch merges a target query with the client's, like ProxyPass; mod_rewrite replaces it unless [QSA].
    query: (query as 'append' | 'discard' | undefined) ?? (isRewrite ? 'keep' : 'merge'),
  };
}

/** A rule's target: a backend URL, or a `balancer://` one standing for its balancer. */
function ruleTarget(
  url: string,
  own: TargetOptions,
  defaults: TargetOptions,
  balancers: BalancerRegistry | undefined,
  where: string,
): { readonly target: Target; readonly balancer?: Balancer } {
  if (isBalancerUrl(url)) return balancerTarget(url, own, defaults, balancers, where);
  return { target: resolveTarget(url, { ...defaults, ...own }, where) };
}

/** Checks a rule's path and normalises its escapes the way request paths are, so `/%7Euser` and `/~user` agree. */
function checkPath(path: unknown, where: string): string {
  // Requests arrive percent-encoded, so a rule written with non-ASCII characters is encoded the same way (UTF-8).
  let encoded: unknown = path;
  try {
    if (typeof path === 'string') encoded = path.replace(/[^\x00-\x7f]+/gu, encodeURIComponent);
  } catch {
    encoded = undefined; // a lone surrogate has no UTF-8 form
  }
  const parsed =
    typeof encoded === 'string' && !/[\s?#]/.test(encoded) ? parseRequestPath(encoded) : undefined;
  if (parsed === undefined || 'invalid' in parsed) {
    return configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: path must start with "/", hold no whitespace, "?", "#" or dot segment, and use valid %-escapes`,
    );
  }
  return parsed.path;
}
