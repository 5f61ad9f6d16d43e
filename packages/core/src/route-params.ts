/** Why: frameworks hand route parameters over decoded, keyed and reordered; `$1`-`$9` need them positional and encoded. */

/** How a framework route matched, from its pattern (Express `req.route.path`, @koa/router `ctx._matchedRoute`). */
export function routeMatch(pattern: unknown): 'path' | 'regex' | undefined {
  if (pattern === undefined || pattern === null) return undefined;
  const patterns: unknown[] = Array.isArray(pattern) ? pattern : [pattern];
  return patterns.every((one) => typeof one === 'string') ? 'path' : 'regex';
}

/** A regex route's captures in position order, from the raw (still percent-encoded) path, as ProxyPassMatch sees it. */
export function regexCaptures(pattern: RegExp, path: string): readonly (string | undefined)[] {
  const once =
    pattern.global || pattern.sticky
      ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
      : pattern;
  return once.exec(path)?.slice(1) ?? [];
}

/**
 * The route's parameters in declaration order (Express `req.params`, Fastify `request.params`), which the framework
 * has percent-decoded: `%` and, except in a wildcard, `/` are encoded again, so `a%2Fb` stays one segment and `%2541`
 * stays `%41` for the backend. An Express 5 wildcard (`*rest`) arrives as its segments, each encoded, joined by `/`;
 * `rawWildcard` is a Fastify `*` parameter as it was in the request-target.
 */
export function routeCaptures(params: unknown, rawWildcard?: string): readonly (string | undefined)[] {
  if (typeof params !== 'object' || params === null) return [];
  return Object.entries(params).map(([name, value]) => {
    if (name === '*' && rawWildcard !== undefined) return rawWildcard;
    if (Array.isArray(value)) return value.map((segment) => encodeDecoded(String(segment), true)).join('/');
    return typeof value === 'string' ? encodeDecoded(value, name !== '*') : undefined;
  });
}

function encodeDecoded(value: string, slash: boolean): string {
  const percent = value.replaceAll('%', '%25');
  return slash ? percent.replaceAll('/', '%2F') : percent;
}
