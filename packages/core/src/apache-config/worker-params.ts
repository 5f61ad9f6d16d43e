/** Why: Apache tunes each backend with `key=value` worker parameters; each one maps to a target option, is noted as inert, or is refused. */

import type { TargetOptions } from '../options.ts';
import { keyValue } from './arguments.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { timeoutParameter, wholeNumber, wholeSeconds } from './values.ts';

/** The target options a worker parameter list sets. */
export type WorkerOptions = Pick<
  TargetOptions,
  'upgrade' | 'timeout' | 'connectTimeout' | 'keepAlive' | 'max'
>;

const POOLING =
  "tunes Apache's backend connection pool; wstunnel opens one connection per tunnel and pools none";

/** Parameters httpd accepts that change nothing in wstunnel, with the reason given back to the user. */
const INERT: ReadonlyMap<string, string> = new Map(
  Object.entries({
    retry: 'wstunnel never takes a failing backend out of service: every request tries it',
    acquire: POOLING,
    ttl: POOLING,
    min: POOLING,
    smax: POOLING,
    disablereuse: POOLING,
    enablereuse: POOLING,
    flushpackets: 'wstunnel forwards every chunk as soon as it arrives',
    flushwait: 'wstunnel forwards every chunk as soon as it arrives',
    iobuffersize: "buffer sizes are Node's own",
    receivebuffersize: "buffer sizes are Node's own",
    ping: 'a 100-continue probe for requests with a body; wstunnel does not probe backends',
    addressttl: 'wstunnel resolves the backend name for every connection',
    responsefieldsize: "Node's HTTP parser limits the size of backend response headers",
  }),
);

/** Parameters of a BalancerMember (member-params.ts) or of a balancer (balancer-params.ts): refused elsewhere, with a pointer. */
const BALANCER_MEMBER = ['lbset', 'loadfactor', 'route', 'redirect', 'status'];
const BALANCER = [
  'stickysession',
  'stickysessionsep',
  'scolonpathdelim',
  'nofailover',
  'maxattempts',
  'lbmethod',
  'failonstatus',
  'failontimeout',
  'nonce',
  'growth',
  'forcerecovery',
];
const TRANSLATED = ['upgrade', 'timeout', 'connectiontimeout', 'keepalive', 'max'];

/** Every worker parameter name the importer knows, for error messages. */
export const KNOWN_WORKER_PARAMETERS: readonly string[] = [...TRANSLATED, ...INERT.keys()];

/**
 * Translates the `key=value` parameters of one `ProxyPass`, `ProxyPassMatch`, `ProxySet` or `BalancerMember` (keys
 * are case-insensitive; a repeated key keeps its last value, as in httpd). `known` lists the keys for hints.
 */
export function readWorkerParameters(
  words: readonly string[],
  directive: string,
  place: ConfigPlace,
  known: readonly string[] = KNOWN_WORKER_PARAMETERS,
): { readonly options: WorkerOptions; readonly ignored: readonly IgnoredDirective[] } {
  const options: { -readonly [K in keyof WorkerOptions]: WorkerOptions[K] } = {};
  const ignored: IgnoredDirective[] = [];
  for (const word of words) {
    const { key, value } = keyValue(
      word,
      `invalid ${directive} parameter "${word}": parameters must be in the form key=value`,
      `known keys: ${[...new Set(known)].join(', ')}`,
      place,
    );
    if (key === 'upgrade') options.upgrade = upgradeParameter(value, place);
    else if (key === 'timeout') options.timeout = wholeSeconds(value, 'timeout=', place);
    else if (key === 'connectiontimeout')
      options.connectTimeout = timeoutParameter(value, 's', 'connectiontimeout=', place);
    else if (key === 'keepalive') options.keepAlive = keepAliveParameter(value, place);
    else if (key === 'max') {
      const max = wholeNumber(value, 'max=', place);
      // max=0 is httpd's "default" (one per thread): no limit of wstunnel's own.
      if (max === 0) delete options.max;
      else options.max = max;
    } else if (INERT.has(key)) {
      ignored.push({ ...place, directive: `${directive} ${word}`, reason: INERT.get(key)! });
    } else if (BALANCER_MEMBER.includes(key) || key.startsWith('hc')) {
      fail(
        place,
        `${key}= is a BalancerMember parameter: it means nothing on a single backend`,
        'write it on a BalancerMember in <Proxy "balancer://name">, and point the rule at balancer://name',
      );
    } else if (BALANCER.includes(key)) {
      fail(
        place,
        `${key}= is a balancer parameter, not a ${directive} one`,
        'write it on a ProxyPass to balancer://name, or as ProxySet in <Proxy "balancer://name">',
      );
    } else {
      fail(place, `unknown ${directive} parameter "${key}"`, `known keys: ${[...new Set(known)].join(', ')}`);
    }
  }
  return { options, ignored };
}

/** `upgrade=`: at most 15 characters (httpd's field size); `ANY`/`*` and `NONE` are mod_proxy_wstunnel's specials. */
function upgradeParameter(value: string, place: ConfigPlace): NonNullable<WorkerOptions['upgrade']> {
  if (value.length >= 16) {
    fail(
      place,
      `upgrade protocol length must be < 16 characters, "${value}" has ${value.length}`,
      'httpd keeps at most 15 characters of upgrade=; list fewer protocols',
    );
  }
  if (value === '*' || value.toUpperCase() === 'ANY') return 'ANY';
  if (value.toUpperCase() === 'NONE') return 'NONE';
  const tokens = value.split(/[\s,]+/).filter((token) => token !== '');
  if (tokens.length === 0) fail(place, 'upgrade= needs a protocol', 'write upgrade=websocket');
  return tokens;
}

/** `keepalive=On` turns TCP keep-alive on with the OS's initial delay (`0`); `Off` leaves it off. */
function keepAliveParameter(value: string, place: ConfigPlace): number | false {
  const lower = value.toLowerCase();
  if (lower === 'on') return 0;
  if (lower === 'off') return false;
  return fail(place, `keepalive= must be On or Off, not "${value}"`, 'write keepalive=On');
}
