/** Why: from a matched upgrade to a running tunnel (backend handshake, 101, Splice) with every handshake and tunnel tracked for drain. */

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type EngineHost, failed, refuseUpgrade } from './engine-host.ts';
import { TunnelError } from './errors.ts';
import { requestInfo, type TunnelInfo, type TunnelOutcome, type TunnelStats } from './events.ts';
import { buildBackendRequest } from './forward-headers.ts';
import { Handshake, type HandshakeResult } from './handshake.ts';
import { writeErrorResponse } from './http-responses.ts';
import type { RouteDecision } from './rules.ts';
import type { Splice } from './splice.ts';
import { switchProtocols } from './switch-protocols.ts';
import type { Target } from './target.ts';

/** A decision to tunnel, as `RuleTable.route` returns it. */
export type TunnelDecision = Extract<RouteDecision, { kind: 'tunnel' }>;

/** Opens tunnels and keeps the handshakes and tunnels in progress. */
export class TunnelEngine {
  readonly #host: EngineHost;
  readonly #closeFrames: boolean;
  readonly #handshakes = new Set<Handshake>();
  readonly #tunnels = new Set<Splice>();

  constructor(host: EngineHost, closeFrames: boolean) {
    this.#host = host;
    this.#closeFrames = closeFrames;
  }

  /** Handshakes in progress (refusals still being relayed included) plus open tunnels. */
  get size(): number {
    return this.#handshakes.size + this.#tunnels.size;
  }

  get openTunnels(): number {
    return this.#tunnels.size;
  }

  /** Ends everything at a drain deadline: pending handshakes get 503, tunnels are shut down. */
  abort(): void {
    for (const handshake of this.#handshakes) handshake.abort();
    for (const tunnel of this.#tunnels) tunnel.shutdown();
  }

  /** Forwards the handshake and, on the backend's 101, starts the tunnel. Never rejects. */
  start(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    decision: TunnelDecision,
  ): Promise<TunnelOutcome> {
    const host = this.#host;
    if (socket.destroyed || !socket.readable || !socket.writable) {
      // A socket that already closed would never emit 'close' again: dialling for it would leak the backend side.
      socket.destroy();
      const gone = new TunnelError('ERR_WSTUNNEL_CLIENT_GONE', undefined, 'the client left');
      return Promise.resolve(failed(host, gone, undefined));
    }
    if (host.closing)
      return refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
    const { target, token, backendPath } = decision;
    const scheme = target.url.slice(0, target.url.indexOf(':'));
    const info = requestInfo(req, `${scheme}://${target.hostHeader}${backendPath}`, token);
    const encrypted = (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;
    const requestHead = buildBackendRequest(
      req,
      backendPath,
      target,
      token,
      {
        remoteAddress: info.remoteAddress,
        encrypted,
      },
      decision.headers,
    );
    if (requestHead === undefined)
      return refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, 'invalid header value');
    if (!host.acquire(target))
      return refuseUpgrade(
        host,
        req,
        socket,
        'ERR_WSTUNNEL_OVERLOADED',
        503,
        'too many tunnels to this backend',
      );
    const clientReadBase = ((socket as Partial<Socket>).bytesRead ?? 0) - head.length;
    return new Promise((resolve) => {
      let handshake: Handshake | undefined;
      const callbacks = {
        decided: (result: HandshakeResult) =>
          resolve(this.#decided(result, socket, target, info, clientReadBase)),
        done: () => {
          if (handshake !== undefined) this.#handshakes.delete(handshake);
          host.release(target);
        },
      };
      try {
        handshake = new Handshake({ client: socket, head, requestHead, target, token }, callbacks);
        this.#handshakes.add(handshake);
      } catch (error) {
        // Dialling threw synchronously (an option Node rejects only at connect time): answer, never crash.
        host.release(target);
        writeErrorResponse(socket, 502, 'cannot reach the backend');
        const cause = new TunnelError('ERR_WSTUNNEL_CONNECT', 502, 'cannot reach the backend', error);
        resolve(failed(host, cause, info));
      }
    });
  }

  #decided(
    result: HandshakeResult,
    socket: Duplex,
    target: Target,
    info: TunnelInfo,
    readBase: number,
  ): TunnelOutcome {
    const host = this.#host;
    if (result.kind === 'failed') return failed(host, result.error, info);
    if (result.kind === 'refused') {
      host.report('refused', info, result.status);
      return { kind: 'refused', info, status: result.status };
    }
    const closed = Promise.withResolvers<TunnelStats>();
    // The handshake's `done` releases its slot right after this returns; the tunnel takes one of its own.
    host.take(target);
    const tunnel = switchProtocols(result, {
      client: socket,
      target,
      info,
      closeFrames: this.#closeFrames,
      clientReadBase: readBase,
      onClosed: (stats) => {
        this.#tunnels.delete(tunnel);
        host.release(target);
        host.report('close', info, stats);
        closed.resolve(stats);
      },
    });
    this.#tunnels.add(tunnel);
    host.report('open', info);
    return { kind: 'open', info, closed: closed.promise };
  }
}
