/** Why: the proxy settings Apache reads at server level (and some per `<Location>`) become the tunnel's defaults, or one rule's options. */

import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import type { LocationState } from './location.ts';
import type { ServerSettings } from './scope.ts';
import { readSslProxyDirective } from './ssl-proxy.ts';
import { oneArgument, onOff, wholeSeconds } from './values.ts';

/** On/Off proxy directives, by lower-case name, and the option each sets. */
const FLAGS = {
  proxywebsocketfallbacktoproxyhttp: 'fallbackToHttp',
  proxypreservehost: 'preserveHost',
  proxyaddheaders: 'xForwarded',
} as const;

function isFlag(lower: string): lower is keyof typeof FLAGS {
  return Object.hasOwn(FLAGS, lower);
}

function isServerSetting(lower: string): boolean {
  return (
    isFlag(lower) ||
    /^(?:proxytimeout|timeout|proxyrequests|proxyvia|balancerinherit|proxypassinherit)$/.test(lower) ||
    lower.startsWith('sslproxy')
  );
}

/**
 * Reads a server-level setting into `settings`. Returns a note when the directive changes nothing, `undefined`
 * when it was translated, and `false` when it is not a setting this importer knows.
 */
export function readServerSetting(
  name: string,
  args: readonly string[],
  settings: ServerSettings,
  place: ConfigPlace,
): IgnoredDirective | undefined | false {
  const lower = name.toLowerCase();
  if (isFlag(lower))
    settings[FLAGS[lower]] = { value: onOff(oneArgument(name, args, 'On|Off', place), name, place), place };
  else if (lower === 'proxytimeout' || lower === 'timeout') {
    const value = wholeSeconds(oneArgument(name, args, '60', place), name, place);
    settings[lower === 'timeout' ? 'timeout' : 'proxyTimeout'] = { value, place };
  } else if (lower === 'proxyvia' && /^(?:on|full|block)$/i.test(args[0] ?? '') && args.length === 1) {
    return {
      ...place,
      directive: `${name} ${args[0]}`,
      reason: "wstunnel adds no Via header and passes the client's on",
    };
  } else if (lower === 'proxyrequests' || lower === 'proxyvia') {
    if (onOff(oneArgument(name, args, 'Off', place), name, place)) {
      fail(
        place,
        `${name} On is not supported`,
        lower === 'proxyrequests'
          ? 'wstunnel is a reverse proxy only: write ProxyRequests Off, or remove it'
          : 'wstunnel adds no Via header: write ProxyVia Off, or remove it',
      );
    }
    return { ...place, directive: `${name} ${args[0]}`, reason: 'this is what wstunnel does anyway' };
  } else if (lower === 'balancerinherit' || lower === 'proxypassinherit') {
    if (!onOff(oneArgument(name, args, 'On', place), name, place)) {
      fail(
        place,
        `${name} Off is not supported`,
        "remove it: the <VirtualHost> wstunnel runs always inherits the main server's balancers and ProxyPass rules (httpd's default)",
      );
    }
    return { ...place, directive: `${name} ${args[0]}`, reason: 'this is what wstunnel does anyway' };
  } else if (lower.startsWith('sslproxy')) return readSslProxyDirective(name, args, settings, place);
  else return false;
  return undefined;
}

/**
 * Reads a directive written inside a `<Location>` as an option of that Location's rule (`ProxyPreserveHost`,
 * `ProxyAddHeaders`, `ProxyWebsocketFallbackToProxyHttp`). Returns `false` when `name` is none of them; throws when
 * it is a server-level setting (httpd refuses `ProxyTimeout` there too).
 */
export function readLocationSetting(
  name: string,
  args: readonly string[],
  location: LocationState,
  place: ConfigPlace,
): boolean {
  const lower = name.toLowerCase();
  if (isFlag(lower))
    location.options[FLAGS[lower]] = onOff(oneArgument(name, args, 'On|Off', place), name, place);
  else if (isServerSetting(lower))
    fail(place, `${name} not allowed in <Location>`, 'move it to server or <VirtualHost> level');
  else return false;
  location.optionPlace ??= place;
  return true;
}
