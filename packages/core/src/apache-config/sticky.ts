/** Why: sticky sessions come from stickysession, stickysessionsep and nofailover, and the route cookie from the manual's `Header add Set-Cookie ... env=BALANCER_ROUTE_CHANGED` recipe, which is `sticky.setCookie`. */

import type { StickyOptions } from '../balancer/balancer-options.ts';
import { splitArguments } from './arguments.ts';
import type { BalancerParams } from './balancer-params.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import type { ReadContext } from './scope.ts';

/** The route cookie a `Header` line sets; `balancer` when written in `<Proxy "balancer://name">`. */
export interface RouteCookie {
  readonly cookie: string;
  readonly separator: string;
  readonly attributes: string;
  readonly balancer: string | undefined;
  readonly place: ConfigPlace;
  /** Set when a balancer reads the cookie. */
  used?: boolean;
}

/** Cookie and URL-parameter names (what the balancer accepts). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=([^%]?)%\{BALANCER_WORKER_ROUTE\}e(?:;\s*(.*))?$/i;

/**
 * Records `Header [always] add|set Set-Cookie "NAME=.%{BALANCER_WORKER_ROUTE}e; attributes" env=BALANCER_ROUTE_CHANGED`
 * written at server level or in a balancer's `<Proxy>`; returns `false` for any other `Header` line.
 */
export function readRouteCookieHeader(rawArgs: string, context: ReadContext, place: ConfigPlace): boolean {
  if (context.kind === 'location') return false;
  const words = splitArguments(rawArgs, place);
  if (/^(?:always|onsuccess)$/i.test(words[0] ?? '')) words.shift();
  const [action, header, value, condition, ...rest] = words;
  const parsed = VALUE.exec(value ?? '');
  const recipe =
    /^(?:add|set|append)$/i.test(action ?? '') &&
    /^set-cookie$/i.test(header ?? '') &&
    /^env=BALANCER_ROUTE_CHANGED$/i.test(condition ?? '') &&
    rest.length === 0;
  if (!recipe || parsed === null) return false;
  const balancer = context.kind === 'proxy' ? context.url : undefined;
  const [, cookie, separator, attributes] = parsed as unknown as [string, string, string, string | undefined];
  context.scope.balancing.routeCookies.push({
    cookie,
    separator,
    attributes: attributes ?? '',
    balancer,
    place,
  });
  return true;
}

/** `stickysession=COOKIE|param` (one name: both), `stickysessionsep`, `nofailover` and the route cookie of `cookies`. */
export function stickyOptions(
  name: string,
  params: BalancerParams,
  cookies: readonly RouteCookie[],
  notes: IgnoredDirective[],
): StickyOptions | undefined {
  const { stickysession, separator, noFailover } = params;
  const value = stickysession?.value ?? '';
  const bar = value.indexOf('|');
  const cookie = bar === -1 ? value : value.slice(0, bar);
  const param = bar === -1 ? value : value.slice(bar + 1);
  const unused = (setting: { readonly place: ConfigPlace } | undefined, key: string, reason: string): void =>
    void (setting && notes.push({ ...setting.place, directive: `balancer://${name} ${key}`, reason }));
  if (cookie === '') {
    const why = value === '' ? 'this balancer has no stickysession' : 'httpd turns sticky sessions off';
    if (value !== '')
      unused(stickysession, `stickysession=${value}`, `it names no cookie before "|": ${why}`);
    unused(separator, 'stickysessionsep', `it only applies to sticky sessions, and ${why}`);
    unused(noFailover, 'nofailover', `it only applies to sticky sessions, and ${why}`);
    return undefined;
  }
  for (const token of [cookie, param]) {
    if (token !== '' && !TOKEN.test(token))
      fail(
        stickysession!.place,
        `stickysession=${value}: "${token}" is not a cookie or parameter name`,
        'write stickysession=ROUTEID or stickysession=JSESSIONID|jsessionid',
      );
  }
  const sep = separator?.value ?? '.';
  const recipe = cookies.find(
    (each) => each.cookie === cookie && (each.balancer ?? `balancer://${name}`) === `balancer://${name}`,
  );
  if (recipe !== undefined) {
    recipe.used = true;
    if (recipe.separator !== sep)
      fail(
        recipe.place,
        `the route cookie is written as ${cookie}=${recipe.separator}route, but balancer://${name} reads ${cookie}=${sep === '' ? '' : `anything${sep}`}route`,
        `write "${cookie}=${sep}%{BALANCER_WORKER_ROUTE}e; path=/", or change stickysessionsep`,
      );
  }
  return {
    cookie,
    ...(param === '' ? {} : { param }),
    ...(separator === undefined ? {} : { separator: sep }),
    ...(noFailover?.value === true ? { noFailover: true } : {}),
    ...(recipe === undefined ? {} : { setCookie: recipe.attributes === '' ? true : recipe.attributes }),
  };
}

/** Notes for route-cookie `Header` lines no balancer reads. */
export function unreadRouteCookies(cookies: readonly RouteCookie[]): IgnoredDirective[] {
  return cookies
    .filter((cookie) => cookie.used !== true)
    .map((cookie) => ({
      ...cookie.place,
      directive: `Header ... Set-Cookie "${cookie.cookie}=${cookie.separator}%{BALANCER_WORKER_ROUTE}e"`,
      reason: `no balancer has stickysession=${cookie.cookie}${cookie.balancer === undefined ? '' : ` (in ${cookie.balancer})`}, so no route cookie is sent`,
    }));
}
