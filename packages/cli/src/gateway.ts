/** Why: the standalone gateway is plain node:http plus the core, so it is both a product and the reference way to host the core. */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  balancerManager,
  createWstunnel,
  type Wstunnel,
  WstunnelConfigError,
  type WstunnelOptions,
  writeErrorResponse,
  writeErrorToResponse,
} from '@wstunnel/core';
import { logAccess } from './access-log.ts';

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  readonly port?: number;
  readonly tunnel: WstunnelOptions;
  /** Receives one access-log line per tunnel, refusal and failure; omit for no log. */
  readonly log?: (line: string) => void;
  /**
   * Serves the balancer-manager (GET: the balancers as JSON; POST: change a member) at `path`, ahead of the rules.
   * `allow` decides who may use it; default: loopback clients only (Apache `Require local`).
   */
  readonly manager?: { readonly path: string; readonly allow?: (req: IncomingMessage) => boolean };
}

/** A running gateway. */
export interface Gateway extends AsyncDisposable {
  readonly server: Server;
  readonly tunnel: Wstunnel;
  /** `http://host:port` it listens on. */
  readonly url: string;
  /** Stops listening, drains tunnels within `drainTimeout` ms, closes idle keep-alive connections. */
  close(drainTimeout?: number): Promise<void>;
}

/** Slow clients may take this long to send request headers (Apache RequestReadTimeout header=20-40). */
const HEADERS_TIMEOUT_MS = 20_000;

/** The manager handler at `path` (query ignored); `true` when it took the request. */
function managerAt(
  tunnel: Wstunnel,
  { path, allow = isLoopback }: NonNullable<GatewayOptions['manager']>,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path))
    throw new WstunnelConfigError(
      'ERR_WSTUNNEL_INVALID_OPTION',
      'manager.path must be a path starting with "/"',
    );
  const manage = balancerManager(tunnel);
  return (req, res) => {
    if ((req.url ?? '').split('?')[0] !== path) return false;
    if (allow(req)) manage(req, res);
    else writeErrorToResponse(res, 403, 'the balancer manager is not open to this client');
    return true;
  };
}

/**
 * Apache `Require local`, plus a loopback `Host`: a page the operator opens could rebind its own name to 127.0.0.1
 * and post same-origin (DNS rebinding), but it cannot choose the Host its requests carry.
 */
function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const local = address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
  return local && (host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host));
}

/** Starts a gateway; rejects if the options are invalid or the address cannot be bound. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const tunnel = createWstunnel(options.tunnel);
  if (options.log !== undefined) logAccess(tunnel, options.log);
  const manage = options.manager === undefined ? undefined : managerAt(tunnel, options.manager);
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 2 * HEADERS_TIMEOUT_MS },
    (req, res) => {
      if (manage?.(req, res)) return;
      if (tunnel.handleRequest(req, res)) return;
      const body = '404 Not Found: no route\n';
      const headers = {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': body.length,
        Connection: 'close',
      };
      res.writeHead(404, headers).end(body);
    },
  );
  tunnel.attach(server);
  // A reverse proxy never tunnels CONNECT (Apache: ProxyRequests Off); Node would drop the socket without a word.
  server.on('connect', (_req, socket) => writeErrorResponse(socket, 501, 'CONNECT is not supported'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const close = async (drainTimeout?: number): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await tunnel.close(drainTimeout === undefined ? {} : { timeout: drainTimeout });
    server.closeAllConnections();
    await stopped;
  };
  return {
    server,
    tunnel,
    url: `http://${host}:${address.port}`,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
