/** Why: `--check` shows what will run in Apache's own words, so balancers are listed as the `<Proxy balancer://>` sections they stand for. */

import type {
  BalancerMemberOptions,
  BalancerOptions,
  HealthCheckOptions,
  MemberStatus,
} from './balancer-options.ts';

const FLAGS: readonly [keyof MemberStatus, string][] = [
  ['disabled', 'D'],
  ['stopped', 'S'],
  ['ignoreErrors', 'I'],
  ['spare', 'R'],
  ['standby', 'H'],
  ['draining', 'N'],
];

/** Lines describing each balancer (unvalidated options: call after they were accepted). */
export function describeBalancers(
  balancers: Readonly<Record<string, BalancerOptions>> | undefined,
): string[] {
  const lines: string[] = [];
  for (const [name, balancer] of Object.entries(balancers ?? {})) {
    lines.push(`<Proxy "balancer://${name.toLowerCase()}">`);
    for (const member of balancer.members)
      lines.push(`  BalancerMember "${member.url}"${memberParams(member)}`);
    const set = balancerParams(balancer);
    if (set !== '') lines.push(`  ProxySet${set}`);
    lines.push('</Proxy>');
  }
  return lines;
}

function memberParams(member: BalancerMemberOptions): string {
  const flags = FLAGS.filter(([key]) => member.status?.[key] === true).map(([, letter]) => letter);
  const check = member.healthCheck;
  return [
    member.name === undefined ? '' : ` (name ${member.name})`,
    member.weight === undefined ? '' : ` loadfactor=${member.weight}`,
    member.lbset === undefined ? '' : ` lbset=${member.lbset}`,
    member.route === undefined ? '' : ` route=${member.route}`,
    flags.length === 0 ? '' : ` status=+${flags.join('')}`,
    member.retry === undefined ? '' : ` retry=${member.retry}ms`,
    check === false ? ' hcmethod=None' : check === undefined ? '' : hcParams(check),
  ].join('');
}

function balancerParams(balancer: BalancerOptions): string {
  const { method, sticky, failOnStatus, failOnTimeout, maxAttempts, forceRecovery, healthCheck } = balancer;
  const methodName =
    method === undefined
      ? ''
      : typeof method === 'string'
        ? method
        : typeof method === 'function'
          ? 'custom'
          : `hash(${method.hash})`;
  const stickyName =
    sticky === undefined
      ? ''
      : typeof sticky === 'string'
        ? sticky
        : sticky.cookie === sticky.param
          ? (sticky.cookie ?? '')
          : [sticky.cookie, sticky.param].filter(Boolean).join('|');
  return [
    methodName === '' ? '' : ` lbmethod=${methodName}`,
    stickyName === '' ? '' : ` stickysession=${stickyName}`,
    typeof sticky === 'object' && sticky.noFailover ? ' nofailover=On' : '',
    typeof sticky === 'object' && sticky.setCookie ? ' (route cookie set on the 101)' : '',
    failOnStatus === undefined || failOnStatus.length === 0 ? '' : ` failonstatus=${failOnStatus.join(',')}`,
    failOnTimeout ? ' failontimeout=On' : '',
    maxAttempts === undefined ? '' : ` maxattempts=${maxAttempts}`,
    forceRecovery === false ? ' forcerecovery=Off' : '',
    healthCheck === undefined
      ? ''
      : ` (health check ${healthCheck.type} every ${healthCheck.interval ?? 30_000} ms)`,
  ].join('');
}

/** A health check in Apache's `hc*` words; a WebSocket handshake check has no Apache name. */
function hcParams(check: HealthCheckOptions): string {
  const method = check.type === 'tcp' ? 'TCP' : check.type === 'http' ? (check.method ?? 'GET') : 'WebSocket';
  return [
    ` hcmethod=${method}`,
    check.path === undefined ? '' : ` hcuri=${check.path}`,
    ` hcinterval=${check.interval ?? 30_000}ms`,
    check.passes === undefined ? '' : ` hcpasses=${check.passes}`,
    check.fails === undefined ? '' : ` hcfails=${check.fails}`,
    check.expectStatus === undefined ? '' : ` (status ${check.expectStatus.join(',')})`,
    check.expectBody === undefined ? '' : ` (body =~ ${check.expectBody})`,
    check.rejectBody === undefined ? '' : ` (body !~ ${check.rejectBody})`,
  ].join('');
}
