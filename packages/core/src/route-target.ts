/** Why: a route's backend URL becomes a one-rule table, so a framework route maps paths exactly as a gateway rule does. */

import type { IncomingMessage } from 'node:http';
import type { BalancerRegistry } from './balancer/balancer-target.ts';
import { configError, TunnelError, WstunnelConfigError } from './errors.ts';
import type { TargetOptions } from './options.ts';
import { prefixLength, type RouteDecision, RuleTable } from './rules.ts';

/** A route's target URL, compiled. */
export interface RouteTargetTable {
  readonly table: RuleTable;
  /** Whether the URL holds `$N` (a match rule fed with the route's captures) rather than being a prefix. */
  readonly backreferences: boolean;
  /** Whether a `/` was added to the URL's path so that a path could be appended to it. */
  readonly slashAdded: boolean;
}

/** Tables compiled for the URLs a target function returned, most recent last. */
export type TargetCache = Map<string, RouteTargetTable>;

/** A target function returning a new URL per request would otherwise grow the cache without bound. */
const CACHE_LIMIT = 256;

/**
 * The rule table of a route's target URL. Without `$N` it is a prefix rule for `/`: the mount-relative path is
 * appended to the URL's path (a `/` is added at its end if missing, as the path always starts with one). With
 * `$N` it is a match rule fed with the route's captures.
 */
export function compileRouteTarget(
  url: string,
  defaults: TargetOptions,
  cache: TargetCache | undefined,
  balancers?: BalancerRegistry,
): RouteTargetTable {
  const cached = cache?.get(url);
  if (cached !== undefined) {
    cache!.delete(url);
    cache!.set(url, cached);
    return cached;
  }
  let table: RouteTargetTable;
  try {
    const slashed = withTrailingSlash(url);
    table = /\$\d/.test(url)
      ? {
          table: new RuleTable([{ match: '', target: url }], defaults, balancers),
          backreferences: true,
          slashAdded: false,
        }
      : {
          table: new RuleTable([{ path: '/', target: slashed }], defaults, balancers),
          backreferences: false,
          slashAdded: slashed !== url,
        };
  } catch (error) {
    if (error instanceof WstunnelConfigError)
      configError(error.code, error.message.replace(/^rule #1 \([^)]*\)|^rule #1/, `target "${url}"`));
    throw error;
  }
  if (cache !== undefined) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(url, table);
  }
  return table;
}

/**
 * Routes a request whose framework route matched its whole path (an exact or parameterised string route, Apache
 * `<Location /path>`): nothing remains to append, so the backend gets the target URL's path as written, with the
 * client's query.
 */
export function routeWholePath(
  compiled: RouteTargetTable,
  req: IncomingMessage,
  path: string,
  captures: readonly (string | undefined)[],
): RouteDecision {
  const queryAt = path.indexOf('?');
  const decision = compiled.table.route(req, queryAt === -1 ? '/' : `/${path.slice(queryAt)}`, captures);
  if (!compiled.slashAdded || (decision.kind !== 'tunnel' && decision.kind !== 'http')) return decision;
  const end = decision.backendPath.indexOf('?');
  const pathEnd = end === -1 ? decision.backendPath.length : end;
  // The `/` compileRouteTarget added to append paths to: with nothing appended, the URL is back as written.
  const trimmed = decision.backendPath.slice(0, pathEnd - 1) || '/';
  return { ...decision, backendPath: trimmed + decision.backendPath.slice(pathEnd) };
}

/**
 * The request-target without the mount path, segment-aware (`/ws2/a?x` under `/ws2` → `/a?x`, `/ws2` → `/`), or
 * `undefined` when `url` is not under it. What a framework does when it strips a mount or plugin prefix.
 */
export function mountRelativePath(url: string, mount: string): string | undefined {
  if (!url.startsWith('/')) return undefined; // absolute-form or `*`: under no mount
  const at = mount === '' || mount === '/' ? 0 : prefixLength(url.split('?')[0]!, mount);
  if (at < 0) return undefined;
  return url.startsWith('/', at) ? url.slice(at) : `/${url.slice(at)}`;
}

/** `ws://b` → `ws://b/`, `ws://b/app?x` → `ws://b/app/?x`: the path to append always starts with `/`. */
function withTrailingSlash(url: string): string {
  const queryAt = url.indexOf('?');
  const base = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  const authorityEnd = base.indexOf('/', base.indexOf('//') + 2);
  if (authorityEnd !== -1 && base.endsWith('/')) return url;
  return `${base}/${query}`;
}

/** `.` or `..` as a path segment, in any spelling, before URL parsing removes it silently (RFC 3986 5.2.4). */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?=[/?#]|$)/i;

/** Calls a route's target function and checks what it returned: a URL (string or URL) with no dot segment. */
export function targetFromFunction<Context>(
  target: (context: Context) => string | URL,
  context: Context,
): string {
  const url = target(context);
  if (typeof url !== 'string' && !(url instanceof URL))
    throw new TypeError(`the target function returned ${typeof url}, not a URL`);
  if (typeof url !== 'string') return String(url);
  // A decoded route parameter interpolated into the URL ("../../admin", "a\\b") would otherwise move the request
  // elsewhere, or fail as a configuration error: it is the request's doing, so it is a 400.
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/)[0]!;
  if (DOT_SEGMENT.test(path) || url.includes('\\'))
    throw new TunnelError(
      'ERR_WSTUNNEL_BAD_REQUEST',
      400,
      'the target function built a URL with a dot segment or a backslash; encode interpolated parameters (encodeURIComponent) or use $1-$9',
    );
  return url;
}
