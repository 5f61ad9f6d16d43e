/**
 * Why: a rule written to `balancer://name/path` routes like any target (prefix, `$N`, fallback to HTTP); only the
 * host is picked later, per session. So the rule gets a Target standing for the balancer, and the balancer itself.
 */

import { configError } from '../errors.ts';
import type { TargetOptions } from '../options.ts';
import type { Target } from '../target.ts';
import type { Balancer } from './balancer.ts';

/** Balancers by lower-case name (Apache compares balancer names case-insensitively). */
export type BalancerRegistry = ReadonlyMap<string, Balancer>;

/** A rule's target when it names a balancer. */
export interface BalancerTarget {
  readonly target: Target;
  readonly balancer: Balancer;
}

const BALANCER_URL = /^balancer:\/\/([^/?#\\]+)(\/[^?#\\]*)?$/i;

/** Whether a target URL names a balancer. */
export function isBalancerUrl(url: string): boolean {
  return /^balancer:/i.test(url);
}

/**
 * The Target standing for `url` (`balancer://name[/path]`): its path is appended to like a prefix target's, and the
 * chosen member's URL is put before it. Rule options other than `fallbackToHttp` are refused: they are the members'.
 */
export function balancerTarget(
  url: string,
  own: TargetOptions,
  defaults: TargetOptions,
  balancers: BalancerRegistry | undefined,
  where: string,
): BalancerTarget {
  const parsed = BALANCER_URL.exec(url);
  if (parsed === null)
    return configError(
      'ERR_WSTUNNEL_INVALID_TARGET',
      `${where}: target "${url}" must be balancer://name[/path], with no query`,
    );
  const name = parsed[1]!.toLowerCase();
  const balancer = balancers?.get(name);
  if (balancer === undefined)
    return configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: target "${url}" names no balancer; define it in the balancers option`,
    );
  const extra = Object.keys(own).filter(
    (key) => key !== 'fallbackToHttp' && own[key as keyof TargetOptions] !== undefined,
  );
  if (extra.length > 0)
    configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: ${extra.join(', ')} on a balancer:// rule: set target options on the balancer's members`,
    );
  const first = balancer.memberStates[0]!.target;
  const target: Target = {
    ...first,
    url,
    secure: false,
    hostname: '',
    port: 0,
    hostHeader: name,
    basePath: parsed[2] ?? '',
    baseQuery: '',
    websocketScheme: balancer.websocketScheme,
    httpOrigin: `balancer://${name}`,
    upgrade: balancer.upgrade,
    fallbackToHttp: own.fallbackToHttp ?? defaults.fallbackToHttp ?? true,
    max: Number.POSITIVE_INFINITY,
    secureContext: undefined,
  };
  if (typeof target.fallbackToHttp !== 'boolean')
    configError('ERR_WSTUNNEL_INVALID_OPTION', `${where}: fallbackToHttp must be a boolean`);
  return { target, balancer };
}
