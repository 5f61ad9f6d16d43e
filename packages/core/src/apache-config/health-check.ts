/** Why: mod_proxy_hcheck's `hc*` member parameters and `ProxyHCTemplate` become a member's health check, requested the way httpd would. */

import type { HealthCheckOptions } from '../balancer/balancer-options.ts';
import { keyValue, splitArguments } from './arguments.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import type { HcCondition } from './hc-expr.ts';
import { timeoutParameter, wholeNumber } from './values.ts';

type HcMethod = 'NONE' | 'TCP' | 'GET' | 'HEAD' | 'OPTIONS';

/** The `hc*` values of one member or template, as written so far. */
export interface HcParams {
  method?: HcMethod;
  interval?: number;
  passes?: number;
  fails?: number;
  uri?: string;
  expr?: HcCondition;
  /** Whether any `hc*` parameter was written. */
  written?: boolean;
}

/** The `ProxyHCExpr` and `ProxyHCTemplate` of one server (httpd does not pass them on to virtual hosts). */
export interface HcScope {
  readonly exprs: Map<string, HcCondition>;
  readonly templates: Map<string, HcParams>;
}

/** httpd's method names (case-insensitive); the `11` variants send HTTP/1.1, as wstunnel always does. */
const METHODS = new Map<string, HcMethod>(
  (['NONE', 'TCP', 'OPTIONS', 'HEAD', 'GET', 'OPTIONS11', 'HEAD11', 'GET11'] as const).map((name) => [
    name.toLowerCase(),
    name.replace('11', '') as HcMethod,
  ]),
);

/** The health-check parameter names, for hints. */
export const HC_PARAMETERS: readonly string[] =
  'hcmethod hcinterval hcpasses hcfails hcuri hcexpr hctemplate'.split(' ');

/** Reads one `hc*` parameter into `params`; returns `false` when `key` is not one. */
export function readHcParameter(
  key: string,
  value: string,
  params: HcParams,
  hc: HcScope,
  place: ConfigPlace,
): boolean {
  if (!HC_PARAMETERS.includes(key)) return false;
  params.written = true;
  if (key === 'hctemplate') {
    const template = hc.templates.get(value.toLowerCase());
    if (template === undefined)
      fail(
        place,
        `Unknown ProxyHCTemplate name: ${value}`,
        'define it with ProxyHCTemplate before this line',
      );
    // httpd copies every value of the template, its defaults included, over what was written before.
    for (const field of ['method', 'interval', 'passes', 'fails', 'uri', 'expr'] as const)
      delete params[field];
    Object.assign(params, template);
  } else if (key === 'hcmethod') {
    if (/^(?:cping|provider)$/i.test(value))
      fail(
        place,
        `Health check method ${value} not (yet) implemented`,
        'use hcmethod=TCP, GET, HEAD or OPTIONS',
      );
    params.method =
      METHODS.get(value.toLowerCase()) ??
      fail(place, `hcmethod=${value}: unknown method`, 'use None, TCP, GET, HEAD or OPTIONS');
  } else if (key === 'hcinterval') {
    params.interval = timeoutParameter(value, 's', 'hcinterval=', place);
    if (params.interval < 100)
      fail(place, 'Interval must be a positive value greater than 100ms', 'write hcinterval=100ms or more');
  } else if (key === 'hcpasses' || key === 'hcfails') {
    const count = wholeNumber(value, `${key}=`, place);
    if (count > 100) fail(place, `${key}=${value}: wstunnel counts at most 100`, `write ${key}=100 or less`);
    // httpd compares the count of consecutive results with >=, so 0 acts as 1.
    params[key === 'hcpasses' ? 'passes' : 'fails'] = Math.max(count, 1);
  } else if (key === 'hcuri') {
    params.uri = value;
  } else {
    const condition = hc.exprs.get(value.toLowerCase());
    if (condition === undefined)
      fail(
        place,
        `Unknown health check condition expr: ${value}`,
        'define it with ProxyHCExpr before this line',
      );
    params.expr = condition;
  }
  return true;
}

/** Reads `ProxyHCTemplate name key=value...` into `hc`. */
export function readProxyHcTemplate(rawArgs: string, hc: HcScope, place: ConfigPlace): void {
  const [name, ...words] = splitArguments(rawArgs, place);
  if (name === undefined)
    fail(
      place,
      'Missing template name for ProxyHCTemplate',
      'write ProxyHCTemplate name hcmethod=GET hcuri=/health',
    );
  // A template starts from httpd's defaults: method TCP, one pass, one fail, 30 s.
  const template: HcParams = { method: 'TCP' };
  for (const word of words) {
    const { key, value } = keyValue(
      word,
      "Invalid ProxyHCTemplate parameter. Parameter must be in the form 'key=value'",
      `write ${HC_PARAMETERS.join('=..., ')}=...`,
      place,
    );
    if (!readHcParameter(key, value, template, hc, place))
      fail(
        place,
        `ProxyHCTemplate: unknown Worker hcheck parameter ${word}`,
        `a template holds ${HC_PARAMETERS.join(', ')}`,
      );
  }
  delete template.written;
  hc.templates.set(name.toLowerCase(), template);
}

/** Origin-form path wstunnel can send: visible ASCII, no `#`. */
const PATH = /^\/[\x21\x22\x24-\x7e]*$/;

/**
 * The health check of a member at `memberPath` (its URL path, `''` for none): `undefined` when httpd runs none,
 * `false` for `hcmethod=None`. wstunnel requests `memberPath + path`; where httpd would request another target, a note
 * says so.
 */
export function memberHealthCheck(
  params: HcParams,
  memberPath: string,
  written: string,
  place: ConfigPlace,
): { readonly healthCheck: HealthCheckOptions | false | undefined; readonly notes: IgnoredDirective[] } {
  const notes: IgnoredDirective[] = [];
  const note = (reason: string): void => void notes.push({ ...place, directive: written, reason });
  const { method, interval, passes, fails, uri, expr } = params;
  if (method === undefined) {
    if (params.written)
      note('its hc* parameters do nothing without hcmethod: httpd runs no health check for this member');
    return { healthCheck: undefined, notes };
  }
  if (method === 'NONE') return { healthCheck: false, notes };
  const timing = {
    ...(interval === undefined ? {} : { interval }),
    ...(passes === undefined ? {} : { passes }),
    ...(fails === undefined ? {} : { fails }),
  };
  if (method === 'TCP') {
    if (uri !== undefined || expr !== undefined)
      note('a TCP health check sends no request: hcuri and hcexpr are not used');
    return { healthCheck: { type: 'tcp', ...timing }, notes };
  }
  let path: string | undefined;
  if (method === 'OPTIONS') {
    note(
      `httpd sends "OPTIONS *" for this check${uri === undefined ? '' : ' (hcuri is not used)'}; wstunnel sends OPTIONS to "${memberPath}/"`,
    );
  } else {
    path = uri === undefined ? undefined : uri.startsWith('/') ? uri : `/${uri}`;
    if (path !== undefined && !PATH.test(path))
      fail(
        place,
        `hcuri=${uri}: the health-check path must hold visible ASCII characters only, no "#"`,
        'percent-encode it',
      );
    const httpd = memberPath + (memberPath !== '' && uri !== undefined ? '/' : '') + (uri ?? '');
    const ours = memberPath + (path ?? '/');
    if (httpd !== ours)
      note(
        `httpd requests "${httpd}" for this check${httpd === '' ? ' (an empty request target)' : ''}; wstunnel requests "${ours}"`,
      );
  }
  const healthCheck: HealthCheckOptions = {
    type: 'http',
    method,
    ...(path === undefined ? {} : { path }),
    ...(expr === undefined ? {} : expectations(expr)),
    ...timing,
  };
  return { healthCheck, notes };
}

function expectations(
  condition: HcCondition,
): Pick<HealthCheckOptions, 'expectStatus' | 'expectBody' | 'rejectBody'> {
  const { expectStatus, expectBody, rejectBody } = condition;
  return { expectStatus, ...(expectBody && { expectBody }), ...(rejectBody && { rejectBody }) };
}
