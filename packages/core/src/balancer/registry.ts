/** Why: balancers are named once per tunnel (Apache `<Proxy balancer://name>`), validated at configuration time and looked up by rules. */

import { configError } from '../errors.ts';
import type { TargetOptions } from '../options.ts';
import { Balancer, type MemberEvent } from './balancer.ts';
import type { BalancerOptions } from './balancer-options.ts';

const NAME = /^[A-Za-z0-9._~-]+$/;

/** Builds the balancers of the `balancers` option, keyed by lower-case name (Apache compares them case-insensitively). */
export function createBalancers(
  options: Readonly<Record<string, BalancerOptions>> | undefined,
  defaults: TargetOptions,
  report: (event: MemberEvent) => void,
): ReadonlyMap<string, Balancer> {
  const balancers = new Map<string, Balancer>();
  if (options === undefined) return balancers;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    configError('ERR_WSTUNNEL_INVALID_BALANCER', 'balancers must be an object of balancers by name');
  for (const [name, balancer] of Object.entries(options)) {
    const key = name.toLowerCase();
    if (!NAME.test(name))
      configError(
        'ERR_WSTUNNEL_INVALID_BALANCER',
        `balancer name ${JSON.stringify(name)} must be a host-name-like token`,
      );
    if (balancers.has(key))
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `balancer://${key} is defined twice (names ignore case)`);
    balancers.set(key, new Balancer(key, balancer, defaults, report));
  }
  return balancers;
}
