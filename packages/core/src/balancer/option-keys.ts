/** Why: a misspelt option (`loadfactor` for `weight`) must fail at configuration time, not be ignored. */

import { configError } from '../errors.ts';

const TARGET_KEYS = [
  'upgrade',
  'fallbackToHttp',
  'preserveHost',
  'xForwarded',
  'trustForwarded',
  'connectTimeout',
  'timeout',
  'idleTimeout',
  'keepAlive',
  'halfClose',
  'max',
  'tls',
];
const KNOWN: Record<'balancer' | 'member' | 'sticky', readonly string[]> = {
  balancer: [
    'members',
    'method',
    'sticky',
    'failOnStatus',
    'failOnTimeout',
    'maxAttempts',
    'forceRecovery',
    'healthCheck',
  ],
  member: ['url', 'name', 'weight', 'lbset', 'route', 'status', 'retry', 'healthCheck', ...TARGET_KEYS],
  sticky: ['cookie', 'param', 'separator', 'setCookie', 'noFailover'],
};

/** Refuses keys a balancer, member or sticky option does not have (`loadfactor` for `weight` is an easy slip). */
export function checkKeys(value: object, kind: keyof typeof KNOWN, where: string): void {
  const unknown = Object.keys(value).filter((key) => !KNOWN[kind].includes(key));
  if (unknown.length > 0)
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: unknown ${kind} option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${KNOWN[kind].join(', ')})`,
    );
}
