/** Why: a balancer's own parameters (mod_proxy's set_balancer_param) come from ProxySet, `<Proxy balancer://...>` and ProxyPass lines alike, and are read the same way from each. */

import { keyValue } from './arguments.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import type { Setting } from './scope.ts';
import { onOff, wholeNumber } from './values.ts';
import { KNOWN_WORKER_PARAMETERS } from './worker-params.ts';

/** A balancer's parameters as written so far; the last value written wins, as in httpd. */
export interface BalancerParams {
  method?: 'byrequests' | 'bytraffic' | 'bybusyness';
  stickysession?: Setting<string>;
  separator?: Setting<string>;
  noFailover?: Setting<boolean>;
  failOnStatus?: number[];
  failOnTimeout?: boolean;
  maxAttempts?: number;
  forceRecovery?: boolean;
}

const BALANCER_KEYS = [
  'lbmethod',
  'stickysession',
  'stickysessionsep',
  'nofailover',
  'maxattempts',
  'failonstatus',
  'failontimeout',
  'forcerecovery',
  'scolonpathdelim',
  'timeout',
  'growth',
  'nonce',
];

/** Parameters httpd accepts that wstunnel has no use for, with the reason given back. */
const INERT: Record<string, string> = {
  scolonpathdelim:
    'wstunnel always ends the sticky URL parameter at ";" (what httpd does with scolonpathdelim=On) and also finds it after ";"',
  timeout:
    'on a balancer, timeout= is how long httpd waits for a free member; wstunnel answers 503 at once when no member is usable. For the backend timeout, write timeout= on each BalancerMember',
  growth: "wstunnel's runtime API adds members to a balancer without a limit",
  nonce:
    "there is no balancer-manager page to protect: wstunnel's balancer manager handler is mounted behind your own authentication",
};

/**
 * Applies `key=value` balancer parameters to `params` (keys case-insensitive, values as httpd checks them); returns
 * notes for the parameters that change nothing in wstunnel. `directive` names the source in messages.
 */
export function readBalancerParameters(
  words: readonly string[],
  directive: string,
  params: BalancerParams,
  place: ConfigPlace,
): IgnoredDirective[] {
  const notes: IgnoredDirective[] = [];
  for (const word of words) {
    const { key, value } = keyValue(
      word,
      `invalid ${directive} parameter "${word}": parameters must be in the form key=value`,
      `balancer parameters: ${BALANCER_KEYS.join(', ')}`,
      place,
    );
    const what = `${key}=`;
    if (key === 'lbmethod') params.method = lbMethod(value, place);
    else if (key === 'stickysession') params.stickysession = { value, place };
    else if (key === 'stickysessionsep') {
      if (value.length !== 1 && value.toLowerCase() !== 'off')
        fail(
          place,
          'stickysessionsep must be a single character or Off',
          'write stickysessionsep=. (the default) or stickysessionsep=Off',
        );
      params.separator = { value: value.length === 1 ? value : '', place };
    } else if (key === 'nofailover') params.noFailover = { value: onOff(value, what, place), place };
    else if (key === 'maxattempts') params.maxAttempts = wholeNumber(value, what, place);
    else if (key === 'failonstatus') params.failOnStatus = statusList(value, place);
    else if (key === 'failontimeout') params.failOnTimeout = onOff(value, what, place);
    else if (key === 'forcerecovery') params.forceRecovery = onOff(value, what, place);
    else if (key in INERT) {
      if (key === 'scolonpathdelim') onOff(value, what, place);
      if (key === 'timeout' && !(/^\d+$/.test(value) && Number(value) >= 1))
        fail(place, 'timeout must be at least one second', 'write timeout=5, or remove it');
      if (key === 'growth' && !(/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 100))
        fail(place, 'growth must be between 1 and 100', 'remove it');
      notes.push({ ...place, directive: `${directive} ${word}`, reason: INERT[key]! });
    } else {
      const worker =
        KNOWN_WORKER_PARAMETERS.includes(key) ||
        ['loadfactor', 'lbset', 'route', 'status', 'redirect'].includes(key) ||
        key.startsWith('hc');
      fail(
        place,
        `unknown Balancer parameter "${key}"${worker ? ': it is a member parameter' : ''}`,
        worker
          ? `write ${key}= on each BalancerMember; on a balancer:// ProxyPass or ProxySet, httpd reads only balancer parameters (${BALANCER_KEYS.join(', ')})`
          : `balancer parameters: ${BALANCER_KEYS.join(', ')}`,
      );
    }
  }
  return notes;
}

function lbMethod(value: string, place: ConfigPlace): NonNullable<BalancerParams['method']> {
  if (value === 'byrequests' || value === 'bytraffic' || value === 'bybusyness') return value;
  if (value === 'heartbeat') {
    fail(
      place,
      'lbmethod=heartbeat is not supported: it reads the load mod_heartmonitor collects from mod_heartbeat on each backend',
      'use lbmethod=bybusyness (fewest open tunnels) or byrequests',
    );
  }
  return fail(
    place,
    `unknown lbmethod "${value}"`,
    'write lbmethod=byrequests, bytraffic or bybusyness (lower case, as httpd requires)',
  );
}

/** `failonstatus=500,503` (httpd splits on commas and spaces; each must be a status from 100 to 599). */
function statusList(value: string, place: ConfigPlace): number[] {
  const statuses = value.split(/[, ]+/).filter((item) => item !== '');
  for (const status of statuses) {
    if (!/^\d+$/.test(status) || Number(status) < 100 || Number(status) > 599)
      fail(
        place,
        'failonstatus must be one or more HTTP response codes',
        `"${status}" is not one: write failonstatus=500,503`,
      );
  }
  return statuses.map(Number);
}
