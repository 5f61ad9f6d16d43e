/**
 * Why: requests a rule proxies as plain HTTP (an `http://` rule, or a `ws://` rule's fallback, which socket.io's
 * long-polling needs) go through http-proxy-middleware, with the tunnel's path mapping, headers and error statuses.
 */

import { type ClientRequest, Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import { forwardedFor } from './forward-headers.ts';
import { commaList, connectionNamed, HOP_BY_HOP } from './header-lists.ts';
import { writeErrorToResponse } from './http-responses.ts';
import type { Target } from './target.ts';

/** How a proxied request ended: the status sent to the client, or the error that cut it short. */
export interface HttpResult {
  readonly status: number;
  /** `'connect'`, `'timeout'` or `'backend'` when the backend failed; the status is then 502/504, or 0 if too late. */
  readonly failure?: 'connect' | 'timeout' | 'backend';
}

interface Exchange {
  readonly backendPath: string;
  readonly url: string | undefined;
  /** The client's own `Connection` field, which says what is hop-by-hop. */
  readonly clientConnection: string | undefined;
  /** What the response's `Connection` says about the client connection. */
  readonly persistence: 'close' | 'keep-alive';
  timedOut: boolean;
  failure?: HttpResult['failure'];
}

const UNEXPECTED_101 = 'ERR_WSTUNNEL_UNEXPECTED_101';

/** Request fields the backend must not see: hop-by-hop ones and `Host` (set below); the body framing stays. */
const DROPPED = new Set([...HOP_BY_HOP, 'http2-settings'].filter((name) => name !== 'transfer-encoding'));

/** Proxies plain requests to one target. One per target, created on its first plain request. */
export class HttpForwarder {
  readonly #target: Target;
  readonly #agent: HttpAgent;
  readonly #proxy: RequestHandler;
  readonly #exchanges = new WeakMap<IncomingMessage, Exchange>();

  constructor(target: Target) {
    this.#target = target;
    const keepAliveMsecs = target.keepAlive === false ? 1_000 : target.keepAlive;
    this.#agent = target.secure
      ? new HttpsAgent({
          keepAlive: true,
          keepAliveMsecs,
          secureContext: target.secureContext!,
          servername: target.tls.servername ?? target.hostname,
          rejectUnauthorized: target.tls.rejectUnauthorized ?? true,
        })
      : new HttpAgent({ keepAlive: true, keepAliveMsecs });
    this.#proxy = createProxyMiddleware({
      target: target.httpOrigin,
      agent: this.#agent,
      changeOrigin: false,
      xfwd: false,
      ...(target.timeout > 0 ? { proxyTimeout: target.timeout } : {}),
      pathRewrite: (_path, req) => (req === undefined ? undefined : this.#exchanges.get(req)?.backendPath),
      ejectPlugins: true,
      plugins: [
        (server) => {
          server.on('proxyReq', (proxyReq, req, res) => this.#prepare(proxyReq, req, res));
          server.on('proxyRes', (proxyRes, req) => {
            const exchange = this.#exchanges.get(req);
            if (exchange !== undefined) stripHopByHop(proxyRes, exchange.persistence);
          });
          server.on('error', (error, req, res) => {
            if (req !== undefined) this.#fail(error, req, res as ServerResponse);
          });
          server.on('econnreset', () => undefined); // the client left first; httpxy has destroyed the backend request
        },
      ],
    });
  }

  /** Proxies `req` to `backendPath` on the target; `done` is called once, when the response is over. */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    backendPath: string,
    done: (result: HttpResult) => void,
  ): void {
    const clientConnection = req.headers.connection;
    const tokens = commaList(clientConnection);
    // Node's parser stops at a request flagged as an upgrade, so what is pipelined behind it is never read: close.
    const close =
      tokens.includes('close') ||
      tokens.includes('upgrade') ||
      (req.httpVersionMinor === 0 && !tokens.includes('keep-alive'));
    if (close) res.shouldKeepAlive = false;
    const persistence = close ? 'close' : 'keep-alive';
    const exchange: Exchange = { backendPath, url: req.url, clientConnection, persistence, timedOut: false };
    this.#exchanges.set(req, exchange);
    // httpxy copies the request's Connection into an HTTP/1.0 response; it must state our decision, not the client's.
    req.headers.connection = persistence;
    res.once('close', () => {
      if (clientConnection === undefined) delete req.headers.connection;
      else req.headers.connection = clientConnection;
      done(
        exchange.failure === undefined
          ? { status: res.statusCode }
          : { status: res.statusCode, failure: exchange.failure },
      );
    });
    void this.#proxy(req, res);
  }

  /** Closes idle pooled backend connections. */
  close(): void {
    this.#agent.destroy();
  }

  #prepare(proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse): void {
    const exchange = this.#exchanges.get(req);
    // http-proxy-middleware rewrote req.url for the backend; the app (logs, error handlers) keeps seeing its own.
    if (exchange?.url !== undefined) req.url = exchange.url;
    const target = this.#target;
    const named = connectionNamed(exchange?.clientConnection);
    for (const name of proxyReq.getHeaderNames())
      if (DROPPED.has(name) || named.has(name)) proxyReq.removeHeader(name);
    const clientHost = req.headers.host ?? '';
    proxyReq.setHeader('host', target.preserveHost && clientHost !== '' ? clientHost : target.hostHeader);
    if (target.xForwarded) {
      for (const name of ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'])
        proxyReq.removeHeader(name);
      for (const [name, value] of Object.entries(forwardedFor(req, target, named)))
        proxyReq.setHeader(name, value);
    }
    // A 101 to a request that asked for no upgrade must not become a tunnel; Node would drop it without a word.
    proxyReq.once('upgrade', (_response, socket: Socket) => {
      socket.destroy();
      this.#fail(Object.assign(new Error('101 to a plain request'), { code: UNEXPECTED_101 }), req, res);
    });
    proxyReq.once('timeout', () => {
      if (exchange !== undefined) exchange.timedOut = true;
    });
    const socket = proxyReq.socket as Socket | null;
    if (socket?.connecting === true && target.connectTimeout > 0) {
      const timer = setTimeout(() => {
        if (exchange !== undefined) exchange.timedOut = true;
        proxyReq.destroy();
      }, target.connectTimeout);
      const clear = (): void => clearTimeout(timer);
      socket.once(target.secure ? 'secureConnect' : 'connect', clear);
      proxyReq.once('close', clear);
    }
  }

  #fail(error: Error, req: IncomingMessage, res: ServerResponse): void {
    const exchange = this.#exchanges.get(req);
    const code = (error as NodeJS.ErrnoException).code;
    const refused =
      code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN';
    const failure = exchange?.timedOut === true ? 'timeout' : refused ? 'connect' : 'backend';
    if (exchange !== undefined) exchange.failure = failure;
    if (res.headersSent || res.destroyed) {
      // The response started: a clean end would pass a truncated body off as complete.
      res.destroy();
      return;
    }
    if (failure === 'timeout') writeErrorToResponse(res, 504, 'the backend did not answer in time');
    else if (code === UNEXPECTED_101)
      writeErrorToResponse(res, 502, 'the backend switched protocols on a request that asked for no upgrade');
    else writeErrorToResponse(res, 502, refused ? 'cannot reach the backend' : 'the backend failed');
  }
}

/** Removes the backend's hop-by-hop fields and states the client connection's own persistence (RFC 9110 7.6.1). */
function stripHopByHop(proxyRes: IncomingMessage, persistence: Exchange['persistence']): void {
  const headers = proxyRes.headers;
  for (const name of connectionNamed(headers.connection)) delete headers[name];
  for (const name of DROPPED) delete headers[name];
  // httpxy would otherwise copy the client's own Connection field (say "Upgrade") into the response.
  headers.connection = persistence;
}
