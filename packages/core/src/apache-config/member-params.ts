/** Why: a BalancerMember takes the worker parameters of any backend plus its balancing ones (loadfactor, lbset, route, status, retry, hc*); each maps to a member option. */

import type { BalancerMemberOptions, MemberStatus } from '../balancer/balancer-options.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { HC_PARAMETERS, type HcParams, type HcScope, readHcParameter } from './health-check.ts';
import { KNOWN_WORKER_PARAMETERS, readWorkerParameters } from './worker-params.ts';

/** A member's options before its health check is worked out. */
export type MemberOptions = Omit<BalancerMemberOptions, 'url' | 'healthCheck'>;

const MEMBER_KEYS = ['loadfactor', 'lbset', 'route', 'status', 'retry'];

/** Status letters wstunnel can set, by httpd letter. */
const FLAGS: Record<string, keyof MemberStatus> = {
  D: 'disabled',
  S: 'stopped',
  I: 'ignoreErrors',
  R: 'spare',
  H: 'standby',
  N: 'draining',
};

/** Cookie and URL-parameter safe route ids (what the balancer accepts). */
const ROUTE = /^[A-Za-z0-9!#$%&'*+\-^_`|~.]{1,63}$/;

/** Reads the `key=value` parameters of one BalancerMember. */
export function readMemberParameters(
  words: readonly string[],
  hc: HcScope,
  place: ConfigPlace,
): { readonly options: MemberOptions; readonly hc: HcParams; readonly ignored: IgnoredDirective[] } {
  const options: { -readonly [K in keyof MemberOptions]: MemberOptions[K] } = {};
  const health: HcParams = {};
  const ignored: IgnoredDirective[] = [];
  const worker: string[] = [];
  for (const word of words) {
    const equals = word.indexOf('=');
    const key = word.slice(0, Math.max(equals, 0)).toLowerCase();
    const value = word.slice(equals + 1);
    // A word without "=" is left to readWorkerParameters, which reports it.
    if (equals <= 0) worker.push(word);
    else if (readHcParameter(key, value, health, hc, place)) continue;
    else if (key === 'loadfactor') {
      // httpd: a decimal number from 1 to 100 (it keeps two decimals).
      if (!/^\d+(?:\.\d+)?$/.test(value) || Number(value) < 1 || Number(value) > 100)
        fail(
          place,
          `LoadFactor must be a number between 1..100, not "${value}"`,
          'write loadfactor=1 (the default) up to loadfactor=100',
        );
      options.weight = Number(value);
    } else if (key === 'lbset') {
      if (!/^\d+$/.test(value) || Number(value) > 99)
        fail(
          place,
          `lbset must be between 0 and 99, not "${value}"`,
          'write lbset=0 (the default) or lbset=1',
        );
      options.lbset = Number(value);
    } else if (key === 'route') {
      if (value !== '' && !ROUTE.test(value))
        fail(
          place,
          `route=${value}: a route must be 1-63 token characters`,
          'it travels in cookies and URLs: use letters, digits, "-", "_" or "."',
        );
      if (value === '') delete options.route;
      else options.route = value;
    } else if (key === 'status') {
      const status = readStatus(value, place, (reason) =>
        ignored.push({ ...place, directive: `BalancerMember status=${value}`, reason }),
      );
      // httpd keeps the last status= written, applied to the default state.
      if (Object.keys(status).length > 0) options.status = status;
      else delete options.status;
    } else if (key === 'retry') {
      options.retry = retrySeconds(value, place) * 1000;
    } else if (key === 'redirect') {
      fail(
        place,
        'BalancerMember redirect= is not supported: wstunnel does not redirect session-less requests to another route',
        'remove it; to take a member out gently, use status=+N (drain): it keeps only the sticky sessions routed to it',
      );
    } else worker.push(word);
  }
  const known = [...KNOWN_WORKER_PARAMETERS, ...MEMBER_KEYS, ...HC_PARAMETERS];
  const translated = readWorkerParameters(worker, 'BalancerMember', place, known);
  return {
    options: { ...options, ...translated.options },
    hc: health,
    ignored: [...ignored, ...translated.ignored],
  };
}

/**
 * httpd's `status=` syntax: letters set a flag, `-` clears the following letters until a `+` (the mode carries on:
 * `D-DN` leaves D and N cleared).
 */
function readStatus(value: string, place: ConfigPlace, note: (reason: string) => void): MemberStatus {
  const status: { -readonly [K in keyof MemberStatus]: MemberStatus[K] } = {};
  let set = true;
  for (let i = 0; i < value.length; i++) {
    let letter = value[i]!;
    if (letter === '+' || letter === '-') {
      set = letter === '+';
      letter = value[++i] ?? '';
    }
    const flag = letter.toUpperCase();
    const key = FLAGS[flag];
    if (key !== undefined) status[key] = set;
    else if (flag === 'E')
      note(
        'httpd clears the error state (E) when it starts, so the member starts usable (checked with httpd 2.4.71)',
      );
    else if (flag === 'C') {
      fail(
        place,
        `status=${value}: a failed health check (C) cannot be set in the configuration`,
        'remove it; to keep the member out until you enable it, write status=+D',
      );
    } else if ('OGUF'.includes(flag) && flag !== '') {
      fail(
        place,
        `status=${value}: ${flag} is a state httpd keeps for itself, not a setting`,
        'use D, S, I, R, H or N',
      );
    } else
      fail(
        place,
        `status=${value}: Unknown status parameter option`,
        'write letters D, S, I, R, H or N, each after + (set) or - (clear), like status=+H',
      );
  }
  return status;
}

/** `retry=` in whole seconds (httpd reads it with atoi: `500ms` would mean 500 seconds there). */
function retrySeconds(value: string, place: ConfigPlace): number {
  if (/^\d+$/.test(value)) return Number(value);
  const lenient = Number.parseInt(value, 10);
  return fail(
    place,
    `retry= must be a whole number of seconds, not "${value}"`,
    Number.isNaN(lenient)
      ? 'write retry=60 (the default) or retry=0'
      : `write whole seconds: httpd would read "${value}" as ${lenient} seconds (checked with httpd 2.4.71)`,
  );
}
