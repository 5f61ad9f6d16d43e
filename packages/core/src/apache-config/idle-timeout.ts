/** Why: Apache closes an idle tunnel after the larger of `Timeout` and the backend timeout, wstunnel after `idleTimeout` (default: `timeout`); rules and members get `idleTimeout` where the two differ. */

import { DEFAULT_TIMEOUT_MS } from '../options.ts';
import type { ServerSettings } from './scope.ts';

/** The server's timeouts: the defaults it sets, and the client `Timeout` every tunnel stays open for at least. */
export interface ServerTimeouts {
  readonly timeout?: number;
  readonly idleTimeout?: number;
  readonly clientTimeout: number;
}

/** The `timeout`/`idleTimeout` defaults of a server's `Timeout` and `ProxyTimeout`. */
export function idleTimeouts(settings: ServerSettings): ServerTimeouts {
  const clientTimeout = settings.timeout?.value ?? DEFAULT_TIMEOUT_MS;
  const timeout = settings.proxyTimeout?.value ?? settings.timeout?.value;
  const idle = timeout !== undefined && timeout < clientTimeout ? { idleTimeout: clientTimeout } : {};
  return { ...(timeout === undefined ? {} : { timeout }), ...idle, clientTimeout };
}

/** `options` with the `idleTimeout` Apache would give a backend of its own `timeout`, where the default would differ. */
export function withIdleTimeout<T extends object>(options: T, timeouts: ServerTimeouts): T {
  const own = (options as { timeout?: number }).timeout;
  if (own === undefined || (own >= timeouts.clientTimeout && timeouts.idleTimeout === undefined))
    return options;
  return { ...options, idleTimeout: Math.max(own, timeouts.clientTimeout) };
}
