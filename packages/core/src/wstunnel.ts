/** Why: one object owns a rule table and the tunnels it opened, so servers and adapters hand it upgrades and it alone drains them. */

import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { attachUpgradeOwner, type UpgradeHandler } from './dispatcher.ts';
import { configError, TunnelError, type TunnelErrorCode } from './errors.ts';
import {
  channels,
  requestInfo,
  type TunnelInfo,
  type TunnelOutcome,
  type TunnelStats,
  type WstunnelEvents,
} from './events.ts';
import { buildBackendRequest } from './forward-headers.ts';
import { Handshake, type HandshakeResult } from './handshake.ts';
import { switchingProtocolsHead, writeErrorResponse, writeUpgradeRequired } from './http-responses.ts';
import type { WstunnelOptions } from './options.ts';
import { afterPendingResponse } from './pipelining.ts';
import { headerValues } from './response-head.ts';
import { type RuleMatch, RuleTable } from './rules.ts';
import { Splice } from './splice.ts';
import type { Target } from './target.ts';
import { checkUpgradeRequest, unsafeBackendPath } from './upgrade-request.ts';

/** Default grace period of {@link Wstunnel.close} before open tunnels are ended. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

/** Options of {@link Wstunnel.close}. */
export interface CloseOptions {
  /** Milliseconds open tunnels get to finish on their own before they are ended. Default 5 000. */
  readonly timeout?: number;
}

/** Tunnels HTTP upgrades to backends by an ordered rule table; see {@link createWstunnel}. */
export class Wstunnel extends EventEmitter<WstunnelEvents> implements AsyncDisposable {
  /** The rules, in matching order. */
  readonly rules: RuleTable;
  readonly #closeFrames: boolean;
  readonly #handshakes = new Set<Handshake>();
  readonly #tunnels = new Set<Splice>();
  readonly #perTarget = new Map<Target, number>();
  readonly #detach = new Set<() => void>();
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(options: WstunnelOptions) {
    super();
    if (typeof options !== 'object' || options === null)
      configError('ERR_WSTUNNEL_INVALID_OPTION', 'options must be an object');
    const { rules, closeFrames, ...defaults } = options;
    this.rules = new RuleTable(rules, defaults);
    this.#closeFrames = closeFrames ?? false;
  }

  /** Handshakes in progress (including refusals still being relayed) plus open tunnels; 0 when all is closed. */
  get size(): number {
    return this.#handshakes.size + this.#tunnels.size;
  }

  /** Open tunnels (after the 101). */
  get openTunnels(): number {
    return this.#tunnels.size;
  }

  /** Whether {@link Wstunnel.close} was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Routes one upgrade (what a node:http `'upgrade'` listener receives) by the rule table and tunnels it.
   * From this call on the socket belongs to wstunnel. `path` is the request-target to route and forward
   * (default `req.url`; adapters pass a mount-relative path). Never rejects: failures are answered on the socket
   * and reported in the outcome.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string = req.url ?? '',
  ): Promise<TunnelOutcome> {
    const match = this.rules.match(path);
    if (match === undefined)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_NO_ROUTE', 404, 'no route for this upgrade');
    return this.tunnel(req, socket, head, match);
  }

  /** Tunnels an upgrade whose rule was already matched (adapters and dispatchers call this). */
  tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, match: RuleMatch): Promise<TunnelOutcome> {
    return afterPendingResponse(socket, () => this.#tunnel(req, socket, head, match));
  }

  #tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, match: RuleMatch): Promise<TunnelOutcome> {
    if (socket.destroyed || !socket.readable || !socket.writable) {
      // A socket that already closed would never emit 'close' again: dialling for it would leak the backend side.
      socket.destroy();
      return Promise.resolve(
        this.#failed(new TunnelError('ERR_WSTUNNEL_CLIENT_GONE', undefined, 'the client left'), undefined),
      );
    }
    if (this.#closing !== undefined)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
    const target = match.rule.target;
    const check = checkUpgradeRequest(req, target.upgrade);
    if (check.kind === 'malformed')
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, check.reason);
    if (check.kind === 'plain') {
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_UPGRADE_REQUIRED', 426, check.reason, target.upgrade);
    }
    const unsafe = unsafeBackendPath(match.backendPath);
    if (unsafe !== undefined) return this.#refuse(req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, unsafe);
    const active = this.#perTarget.get(target) ?? 0;
    if (active >= target.max)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_OVERLOADED', 503, 'too many tunnels to this backend');
    const info = requestInfo(
      req,
      `${target.url.slice(0, target.url.indexOf(':'))}://${target.hostHeader}${match.backendPath}`,
      check.token,
    );
    const encrypted = (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;
    const requestHead = buildBackendRequest(req, match.backendPath, target, check.token, {
      remoteAddress: info.remoteAddress,
      encrypted,
    });
    if (requestHead === undefined)
      return this.#refuse(req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, 'invalid header value');
    const clientReadBase = ((socket as Partial<Socket>).bytesRead ?? 0) - head.length;
    this.#perTarget.set(target, active + 1);
    return new Promise((resolve) => {
      let handshake: Handshake | undefined;
      const callbacks = {
        decided: (result: HandshakeResult) =>
          resolve(this.#decided(result, socket, target, info, clientReadBase)),
        done: () => {
          if (handshake !== undefined) this.#handshakes.delete(handshake);
          this.#release(target);
        },
      };
      try {
        handshake = new Handshake(
          { client: socket, head, requestHead, target, token: check.token },
          callbacks,
        );
        this.#handshakes.add(handshake);
      } catch (error) {
        // Dialling threw synchronously (an option Node rejects only at connect time): answer, never crash.
        this.#release(target);
        writeErrorResponse(socket, 502, 'cannot reach the backend');
        resolve(
          this.#failed(new TunnelError('ERR_WSTUNNEL_CONNECT', 502, 'cannot reach the backend', error), info),
        );
      }
    });
  }

  /**
   * Answers a plain (non-upgrade) HTTP request that matches a rule with 426 Upgrade Required. Returns `false`
   * when no rule matches, so the caller can continue (next middleware, 404).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const match = this.rules.match(req.url ?? '');
    if (match === undefined) return false;
    writeUpgradeRequired(res, match.rule.target.upgrade);
    return true;
  }

  /**
   * Takes the upgrades of `server` that match a rule, through the server's shared dispatcher. Upgrades no rule
   * matches are left to the server's other `'upgrade'` listeners, or served as plain HTTP requests when there are
   * none. Returns a function that detaches; {@link Wstunnel.close} detaches too.
   */
  attach(server: Server): () => void {
    const detach = attachUpgradeOwner(server, { route: (req) => this.#route(req) });
    this.#detach.add(detach);
    return () => {
      this.#detach.delete(detach);
      detach();
    };
  }

  /**
   * Drains: new upgrades get 503; open tunnels get `timeout` ms to finish, then are ended (with 1001 close
   * frames when `closeFrames` is on), pending handshakes are answered 503 and refusals still being relayed are cut.
   * Resolves when everything is closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#drain(options.timeout ?? DEFAULT_DRAIN_TIMEOUT_MS);
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #drain(timeout: number): Promise<void> {
    if (this.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      const deadline = setTimeout(() => {
        for (const handshake of this.#handshakes) handshake.abort();
        for (const tunnel of this.#tunnels) tunnel.shutdown();
      }, timeout);
      await drained;
      clearTimeout(deadline);
    }
    for (const detach of this.#detach) detach();
    this.#detach.clear();
  }

  #route(req: IncomingMessage): UpgradeHandler | undefined {
    const match = this.rules.match(req.url ?? '');
    if (match === undefined) return undefined;
    return (request, socket, head) => void this.tunnel(request, socket, head, match);
  }

  #decided(
    result: HandshakeResult,
    socket: Duplex,
    target: Target,
    info: TunnelInfo,
    readBase: number,
  ): TunnelOutcome {
    if (result.kind === 'failed') return this.#failed(result.error, info);
    if (result.kind === 'refused') {
      this.emit('refused', info, result.status);
      if (channels.refused.hasSubscribers) channels.refused.publish({ info, status: result.status });
      return { kind: 'refused', info, status: result.status };
    }
    // Validated equal to the token asked for, case aside; the client sees the backend's own spelling, as Apache relays.
    const upgrade = headerValues(result.response, 'upgrade')[0]!;
    socket.write(switchingProtocolsHead(result.response, upgrade), 'latin1');
    let reportClosed!: (stats: TunnelStats) => void;
    const closed = new Promise<TunnelStats>((resolve) => {
      reportClosed = resolve;
    });
    // The handshake's `done` releases its slot right after this returns; the tunnel takes one of its own.
    this.#perTarget.set(target, (this.#perTarget.get(target) ?? 0) + 1);
    const tunnel = new Splice({
      client: socket,
      backend: result.backend,
      target,
      closeFrames: this.#closeFrames && info.protocol.toLowerCase() === 'websocket',
      rest: result.rest,
      early: result.early,
      startedAt: info.startedAt,
      clientReadBase: readBase,
      clientWriteBase: (socket as Partial<Socket>).bytesWritten ?? 0,
      onClosed: (stats) => {
        this.#tunnels.delete(tunnel);
        this.#release(target);
        this.emit('close', info, stats);
        if (channels.close.hasSubscribers) channels.close.publish({ info, stats });
        reportClosed(stats);
      },
    });
    this.#tunnels.add(tunnel);
    this.emit('open', info);
    if (channels.open.hasSubscribers) channels.open.publish({ info });
    return { kind: 'open', info, closed };
  }

  #release(target: Target): void {
    this.#perTarget.set(target, (this.#perTarget.get(target) ?? 1) - 1);
    if (this.size === 0) this.#drained?.();
  }

  #refuse(
    req: IncomingMessage,
    socket: Duplex,
    code: TunnelErrorCode,
    status: number,
    message: string,
    upgrade?: readonly string[] | '*',
  ): Promise<TunnelOutcome> {
    writeErrorResponse(socket, status, message, upgrade);
    return Promise.resolve(
      this.#failed(new TunnelError(code, status, message), requestInfo(req, '-', req.headers.upgrade ?? '-')),
    );
  }

  #failed(error: TunnelError, info: TunnelInfo | undefined): TunnelOutcome {
    this.emit('failed', error, info);
    if (channels.failed.hasSubscribers) channels.failed.publish({ error, info });
    return { kind: 'failed', error };
  }
}

/** Creates a {@link Wstunnel}; throws {@link WstunnelConfigError} when the options or rules are invalid. */
export function createWstunnel(options: WstunnelOptions): Wstunnel {
  return new Wstunnel(options);
}
