/** Why: a balancer's `ProxySet`-level options are validated once, at configuration time, into what picking reads. */

import { configError } from '../errors.ts';
import type { BalancerOptions } from './balancer-options.ts';
import type { MemberMethod } from './choose-member.ts';
import { hashKey, rendezvous, resolveHashKey } from './hashing.ts';
import { byBusyness, byRequests, byTraffic, type LbMethod } from './lb-methods.ts';
import type { Member } from './member.ts';

/** The balancer-level options after validation. */
export interface BalancerConfig {
  readonly method: MemberMethod;
  /** `byrequests`, `custom`, `hash(header x-user)`...: for the snapshot. */
  readonly methodName: string;
  readonly failOnStatus: ReadonlySet<number>;
  readonly failOnTimeout: boolean;
  readonly maxAttempts: number | undefined;
  readonly forceRecovery: boolean;
}

const METHODS: Record<string, LbMethod> = {
  byrequests: byRequests,
  bybusyness: byBusyness,
  bytraffic: byTraffic,
};

/** Validates everything but the members, sticky sessions and health checks; throws WstunnelConfigError. */
export function resolveBalancerConfig(options: BalancerOptions, where: string): BalancerConfig {
  const {
    method = 'byrequests',
    failOnStatus = [],
    failOnTimeout = false,
    maxAttempts,
    forceRecovery = true,
  } = options;
  if (!Array.isArray(failOnStatus) || failOnStatus.some((s) => !Number.isInteger(s) || s < 200 || s > 599))
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: failOnStatus must be an array of final statuses 200-599`,
    );
  if (typeof failOnTimeout !== 'boolean' || typeof forceRecovery !== 'boolean')
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: failOnTimeout and forceRecovery must be booleans`,
    );
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 0 || maxAttempts > 100))
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: maxAttempts must be a whole number from 0 to 100`,
    );
  const [resolved, methodName] = resolveMethod(method, where);
  return {
    method: resolved,
    methodName,
    failOnStatus: new Set(failOnStatus),
    failOnTimeout,
    maxAttempts,
    forceRecovery,
  };
}

/** The upgrade tokens some member tunnels: what a rule on the balancer decides on. */
export function unionOfUpgrades(members: readonly Member[], where: string): readonly string[] | '*' | 'none' {
  const each = members.map((member) => member.target.upgrade);
  if (each.includes('*')) return '*';
  if (each.every((upgrade) => upgrade === 'none')) return 'none';
  if (each.includes('none'))
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: upgrade NONE must be on every member or none`);
  return [...new Set(each.flat() as string[])];
}

function resolveMethod(
  method: NonNullable<BalancerOptions['method']>,
  where: string,
): [MemberMethod, string] {
  if (typeof method === 'string') {
    const found = METHODS[method];
    if (found === undefined)
      configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: unknown method ${JSON.stringify(method)}`);
    return [found as MemberMethod, method];
  }
  if (typeof method === 'function') {
    const custom: MemberMethod = (members, req) => {
      const chosen = method(
        members.map((member) => member.view),
        req,
      );
      return members.find((member) => member.view === chosen);
    };
    return [custom, 'custom'];
  }
  if (typeof method !== 'object' || method === null)
    configError('ERR_WSTUNNEL_INVALID_BALANCER', `${where}: method must be a name, a function or a hash key`);
  const key = resolveHashKey(method, where);
  const hashed: MemberMethod = (members, req) => {
    const value = hashKey(key, req);
    return value === undefined ? (byRequests(members) as Member | undefined) : rendezvous(members, value);
  };
  return [hashed, key.hash === 'address' ? 'hash(address)' : `hash(${key.hash} ${key.name})`];
}
