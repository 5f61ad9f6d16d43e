/**
 * Why: requests a rule proxies as plain HTTP (an `http://` rule, or a `ws://` rule's fallback, which socket.io's
 * long-polling needs) go through http-proxy-middleware, with the tunnel's path mapping, headers and error statuses.
 */

import {
  type ClientRequest,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import { TunnelError } from './errors.ts';
import { plainRequestHeaders } from './forward-headers.ts';
import { commaList, connectionNamed, HOP_BY_HOP } from './header-lists.ts';
import { writeErrorToResponse } from './http-responses.ts';
import type { HeaderPatch } from './rules.ts';
import type { Target } from './target.ts';

/** How a proxied request ended: the status sent to the client, or the error that cut it short. */
export interface HttpResult {
  readonly status: number;
  /**
   * `'connect'`, `'timeout'` or `'backend'` when the backend failed (the status is then 502/504, or what had been sent
   * when it was too late to say so); `'aborted'` when the response was cut before it ended (client gone, drain).
   */
  readonly failure?: 'connect' | 'timeout' | 'backend' | 'aborted';
}

/** How an adapter takes part in a plain exchange, so the framework answers what wstunnel would otherwise answer. */
export interface PlainHooks {
  /** Called when the backend's response head is about to be written to `res` (Fastify hijacks, Koa stops responding). */
  readonly respond?: () => void;
  /** Called instead of writing a 502/503/504 when nothing has been sent yet; the framework's error handling answers. */
  readonly fail?: (error: TunnelError) => void;
}

interface Exchange {
  readonly backendPath: string;
  readonly hooks: PlainHooks | undefined;
  readonly url: string | undefined;
  /** The fields to forward, and the client's own while httpxy reads the forwarded ones from `req`. */
  readonly forwarded: IncomingHttpHeaders;
  own: IncomingHttpHeaders | undefined;
  /** What the response's `Connection` says about the client connection. */
  readonly persistence: 'close' | 'keep-alive';
  timedOut: boolean;
  failure?: HttpResult['failure'];
  /** A `Set-Cookie` value added to the response (a balancer's sticky route). */
  readonly setCookie: string | undefined;
}

const UNEXPECTED_101 = 'ERR_WSTUNNEL_UNEXPECTED_101';
const BAD_STATUS = 'ERR_WSTUNNEL_BAD_STATUS';

/** Response fields the client must not see (RFC 9110 7.6.1); its own `Connection` is set from our decision. */
const RESPONSE_HOP_BY_HOP = new Set([...HOP_BY_HOP].filter((name) => name !== 'transfer-encoding'));

/** Proxies plain requests to one target. One per target, created on its first plain request. */
export class HttpForwarder {
  readonly #target: Target;
  readonly #agent: HttpAgent;
  readonly #proxy: RequestHandler;
  readonly #exchanges = new WeakMap<IncomingMessage, Exchange>();
  /** Responses in flight, so a drain past its deadline can end them. */
  readonly #open = new Set<ServerResponse>();

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
      pathRewrite: (_path, req) => (req === undefined ? undefined : this.#lend(req)),
      ejectPlugins: true,
      plugins: [
        (server) => {
          server.on('proxyReq', (proxyReq, req, res) => this.#guard(proxyReq, req, res));
          server.on('proxyRes', (proxyRes, req, res) => this.#onResponse(proxyRes, req, res));
          server.on('error', (error, req, res) => {
            if (req !== undefined) this.#fail(error, req, res as ServerResponse);
          });
          server.on('econnreset', () => undefined); // the client left first; httpxy has destroyed the backend request
        },
      ],
    });
  }

  /**
   * Proxies `req` to `backendPath` on the target; `done` is called once, when the response is over. Returns `false`
   * (and calls nothing) when the client has already gone.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    backendPath: string,
    done: (result: HttpResult) => void,
    patch?: HeaderPatch,
    hooks?: PlainHooks,
    setCookie?: string,
  ): boolean {
    if (res.destroyed) return false;
    const tokens = commaList(req.headers.connection);
    // Node's parser stops at a request flagged as an upgrade, so what is pipelined behind it is never read: close.
    const close =
      tokens.includes('close') ||
      tokens.includes('upgrade') ||
      (req.httpVersionMinor === 0 && !tokens.includes('keep-alive'));
    if (close) res.shouldKeepAlive = false;
    const persistence = close ? 'close' : 'keep-alive';
    const exchange: Exchange = {
      backendPath,
      hooks,
      url: req.url,
      forwarded: plainRequestHeaders(req, this.#target, persistence, patch),
      own: undefined,
      persistence,
      timedOut: false,
      setCookie,
    };
    this.#exchanges.set(req, exchange);
    this.#open.add(res);
    res.once('close', () => {
      this.#open.delete(res);
      this.#giveBack(req, exchange);
      // Nothing sent is status 0; a response that never ended is not a clean one, whatever its status line said.
      const status = res.headersSent ? res.statusCode : 0;
      const failure = exchange.failure ?? (res.writableFinished ? undefined : 'aborted');
      done(failure === undefined ? { status } : { status, failure });
    });
    void this.#proxy(req, res);
    return true;
  }

  /** Ends the responses still in flight (a drain past its deadline). */
  abort(): void {
    for (const res of this.#open) res.destroy();
  }

  /** Closes idle pooled backend connections. */
  close(): void {
    this.#agent.destroy();
  }

  /**
   * httpxy builds the backend request from `req.headers` and `req.url` (http-proxy-middleware rewrites the url just
   * before): lend it the forwarded fields from here until the backend request exists. Returns the backend path.
   */
  #lend(req: IncomingMessage): string | undefined {
    const exchange = this.#exchanges.get(req);
    if (exchange === undefined) return undefined;
    exchange.own = req.headers;
    req.headers = exchange.forwarded;
    return exchange.backendPath;
  }

  /** The app (logs, error handlers, 'finish' listeners) sees its own request again. */
  #giveBack(req: IncomingMessage, exchange: Exchange): void {
    if (exchange.own !== undefined) req.headers = exchange.own;
    exchange.own = undefined;
    req.url = exchange.url;
  }

  #guard(proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse): void {
    const exchange = this.#exchanges.get(req);
    if (exchange !== undefined) this.#giveBack(req, exchange);
    const target = this.#target;
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

  /** Checks and cleans the backend's response head before httpxy relays it. */
  #onResponse(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    if (!this.#checkResponseHead(proxyRes, req, res)) return;
    const exchange = this.#exchanges.get(req);
    exchange?.hooks?.respond?.();
    let persistence = exchange?.persistence ?? 'keep-alive';
    // A transfer coding that does not end in chunked is delimited by the close (RFC 9112 6.3): so must ours be.
    const codings = commaList(proxyRes.headers['transfer-encoding']);
    if (codings.length > 0 && codings.at(-1) !== 'chunked') {
      persistence = 'close';
      res.shouldKeepAlive = false;
    }
    stripHopByHop(proxyRes, persistence);
    if (exchange?.setCookie !== undefined)
      proxyRes.headers['set-cookie'] = [...(proxyRes.headers['set-cookie'] ?? []), exchange.setCookie];
    // httpxy's next step copies req's Connection into responses to HTTP/1.0 clients: lend it ours, briefly.
    if (req.httpVersionMinor !== 0) return;
    const own = req.headers;
    req.headers = { ...own, connection: persistence };
    queueMicrotask(() => {
      req.headers = own;
    });
  }

  /**
   * A status Node cannot send (000, 099) would throw out of httpxy's pipe and crash the process: it is a 502. A reason
   * phrase with control characters is replaced by the standard one. Returns whether the response may be relayed.
   */
  #checkResponseHead(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): boolean {
    const status = proxyRes.statusCode ?? 0;
    if (status < 200 || status > 999) {
      proxyRes.destroy();
      this.#fail(Object.assign(new Error(`status ${status}`), { code: BAD_STATUS }), req, res);
      return false;
    }
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(proxyRes.statusMessage ?? ''))
      proxyRes.statusMessage = STATUS_CODES[status] ?? '';
    return true;
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
    const [status, message, tunnelCode] =
      failure === 'timeout'
        ? ([504, 'the backend did not answer in time', 'ERR_WSTUNNEL_HANDSHAKE_TIMEOUT'] as const)
        : code === BAD_STATUS
          ? ([502, 'the backend sent an invalid status code', 'ERR_WSTUNNEL_BAD_RESPONSE'] as const)
          : code === UNEXPECTED_101
            ? ([
                502,
                'the backend switched protocols on a request that asked for no upgrade',
                'ERR_WSTUNNEL_BAD_RESPONSE',
              ] as const)
            : refused
              ? ([502, 'cannot reach the backend', 'ERR_WSTUNNEL_CONNECT'] as const)
              : ([502, 'the backend failed', 'ERR_WSTUNNEL_BACKEND_CLOSED'] as const);
    // A backend response refused inside httpxy's 'proxyRes' is still piped and its status copied once this returns:
    // only a head written now, synchronously, keeps its status (099) away from the client response.
    const fail = code === BAD_STATUS ? undefined : exchange?.hooks?.fail;
    if (fail !== undefined) fail(new TunnelError(tunnelCode, status, message, error));
    else writeErrorToResponse(res, status, message);
  }
}

/**
 * Removes the backend's hop-by-hop fields and states the client connection's persistence as decided in `forward`
 * (RFC 9110 7.6.1); httpxy would otherwise copy the client's own `Connection` (say "Upgrade") into the response.
 */
function stripHopByHop(proxyRes: IncomingMessage, persistence: string | string[] | undefined): void {
  const headers = proxyRes.headers;
  for (const name of connectionNamed(headers.connection)) delete headers[name];
  for (const name of RESPONSE_HOP_BY_HOP) delete headers[name];
  headers.connection = String(persistence ?? 'keep-alive');
}
