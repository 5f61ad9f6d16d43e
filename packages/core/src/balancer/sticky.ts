/**
 * Why: a sticky session names its member in a cookie or URL parameter as `anything.route` (mod_proxy_balancer
 * stickysession / stickysessionsep); the parameter wins over the cookie, as Apache documents.
 */

import type { IncomingMessage } from 'node:http';
import { configError } from '../errors.ts';
import type { StickyOptions } from './balancer-options.ts';
import { checkKeys } from './option-keys.ts';

/** Sticky options after validation. */
export interface Sticky {
  readonly cookie: string | undefined;
  readonly param: string | undefined;
  /** Finds `param=value` after `?`, `&` or `;`. */
  readonly paramPattern: RegExp | undefined;
  readonly separator: string;
  /** The `Set-Cookie` attributes after `name=.route; `, or `undefined` to send none. */
  readonly setCookie: string | undefined;
  readonly noFailover: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Validates sticky options; a string is Apache's `stickysession` (`COOKIE|param`, or one name for both). */
export function resolveSticky(
  options: string | StickyOptions | undefined,
  where: string,
): Sticky | undefined {
  if (options === undefined) return undefined;
  const names = typeof options === 'string' ? options.split('|') : [];
  const given: StickyOptions =
    typeof options === 'string' ? { cookie: names[0]!, param: names[1] ?? names[0]! } : options;
  if (typeof given !== 'object' || given === null)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: sticky must be a string or an object`);
  checkKeys(given, 'sticky', `${where} sticky`);
  const { cookie, param, separator = '.', setCookie = false, noFailover = false } = given;
  for (const [key, name] of [
    ['cookie', cookie],
    ['param', param],
  ] as const) {
    if (name !== undefined && (typeof name !== 'string' || !TOKEN.test(name)))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `${where}: sticky.${key} must be a cookie/parameter name token`,
      );
  }
  if (cookie === undefined && param === undefined)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: sticky needs a cookie or a param name`);
  // It lands in the route cookie on the 101: one token character (Apache's default is '.'), or none.
  if (typeof separator !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]?$/.test(separator))
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: sticky.separator must be one token character or ''`,
    );
  if (typeof noFailover !== 'boolean')
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: sticky.noFailover must be a boolean`);
  if (setCookie !== false && cookie === undefined)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: sticky.setCookie needs sticky.cookie`);
  if (typeof setCookie === 'string' && !/^[\x20-\x7e]+$/.test(setCookie))
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: sticky.setCookie attributes must be one line`);
  if (typeof setCookie !== 'boolean' && typeof setCookie !== 'string')
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: sticky.setCookie must be a boolean or cookie attributes`,
    );
  return {
    cookie,
    param,
    paramPattern: param === undefined ? undefined : new RegExp(`[?&;]${escapeRegExp(param)}=([^&;?#]*)`),
    separator,
    setCookie: setCookie === false ? undefined : setCookie === true ? 'Path=/' : setCookie,
    noFailover,
  };
}

/** The route a request names, or `undefined`: the URL parameter first, then the cookie. */
export function stickyRoute(sticky: Sticky, req: IncomingMessage): string | undefined {
  const value =
    // An empty parameter names no route, so the cookie is still read (Apache keeps looking).
    (sticky.paramPattern === undefined
      ? undefined
      : sticky.paramPattern.exec(req.url ?? '')?.[1] || undefined) ??
    (sticky.cookie === undefined ? undefined : cookieValue(req.headers.cookie, sticky.cookie));
  if (value === undefined) return undefined;
  if (sticky.separator === '') return value || undefined;
  const at = value.indexOf(sticky.separator);
  return at === -1 || at === value.length - 1 ? undefined : value.slice(at + 1);
}

/** The `Set-Cookie` value announcing `route` (Apache's ROUTEID recipe: the cookie's value is `.route`). */
export function routeCookie(sticky: Sticky, route: string): string | undefined {
  if (sticky.setCookie === undefined || sticky.cookie === undefined) return undefined;
  return `${sticky.cookie}=${sticky.separator}${route}; ${sticky.setCookie}`;
}

/** The parameter may follow `?`, `&` or `;` (Apache get_path_param, with scolonpathdelim). */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The value of cookie `name` in a `Cookie` header, or `undefined`. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
