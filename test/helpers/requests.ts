// Why: the rule table routes on request fields alone, so table-driven tests give it parsed requests without a socket.
import type { IncomingMessage } from 'node:http';
import type { RouteDecision } from '@wstunnel/core';

/** What a node:http server would parse from `GET url HTTP/1.1` with `headers` (lower-case names). */
export function plainRequest(
  url: string,
  headers: Record<string, string> = {},
  extra: { method?: string; remoteAddress?: string; encrypted?: boolean } = {},
): IncomingMessage {
  return {
    url,
    method: extra.method ?? 'GET',
    headers: { host: 'gateway.test', ...headers },
    httpVersion: '1.1',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    socket: {
      remoteAddress: extra.remoteAddress ?? '127.0.0.1',
      remotePort: 50000,
      encrypted: extra.encrypted,
    },
  } as unknown as IncomingMessage;
}

/** The same request asking for a WebSocket upgrade. */
export function upgradeRequest(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return plainRequest(url, { connection: 'Upgrade', upgrade: 'websocket', ...headers });
}

/** The backend path a decision proxies or tunnels to; `undefined` when it passes, or the status it rejects with. */
export function backendPathOf(decision: RouteDecision): string | number | undefined {
  if (decision.kind === 'pass') return undefined;
  if (decision.kind === 'reject') return decision.status;
  return decision.backendPath;
}
