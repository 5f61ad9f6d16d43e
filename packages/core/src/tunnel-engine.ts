/** Why: from a matched upgrade to a running tunnel (backend handshake, 101, Splice) with every handshake and tunnel tracked for drain. */

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type BackendChoice, chooseBackend, triedMembers } from './backend-choice.ts';
import { type BackendFailure, failsOver } from './backend-failure.ts';
import type { Member } from './balancer/member.ts';
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

/** One upgrade on its way to a backend, across the attempts a balancer makes. */
interface Session {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly decision: TunnelDecision;
  /** The client socket's `bytesRead` before the request head. */
  readonly readBase: number;
  /** Balancer members that failed this session. */
  readonly tried: Set<Member>;
  readonly resolve: (outcome: TunnelOutcome | Promise<TunnelOutcome>) => void;
}

function clientGone(): TunnelError {
  return new TunnelError('ERR_WSTUNNEL_CLIENT_GONE', undefined, 'the client left');
}

/** Bytes a tunnel has moved both ways since its handshake started. */
function liveBytes(client: Duplex, readBase: number, writeBase: number): number {
  const socket = client as Partial<Socket>;
  return (socket.bytesRead ?? 0) - readBase + (socket.bytesWritten ?? 0) - writeBase;
}

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
      return Promise.resolve(failed(host, clientGone(), undefined));
    }
    if (host.closing)
      return refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down');
    const readBase = ((socket as Partial<Socket>).bytesRead ?? 0) - head.length;
    return new Promise((resolve) => {
      this.#attempt({ req, socket, decision, readBase, tried: triedMembers(decision), resolve }, head);
    });
  }

  /** One try of the session: a single target's only one, or a balancer member's (the next one after a failover). */
  #attempt(session: Session, head: Buffer): void {
    const host = this.#host;
    const { req, socket, decision, resolve } = session;
    const choice = chooseBackend(decision, req, decision.token, session.tried);
    if (!('target' in choice))
      return void resolve(
        refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_NO_MEMBER', choice.status, choice.reason),
      );
    const { target, backendPath, member } = choice;
    const { token } = decision;
    const scheme = target.url.slice(0, target.url.indexOf(':'));
    const info = requestInfo(req, `${scheme}://${target.hostHeader}${backendPath}`, token);
    const encrypted = (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;
    const client = { remoteAddress: info.remoteAddress, encrypted };
    const requestHead = buildBackendRequest(req, backendPath, target, token, client, decision.headers);
    if (requestHead === undefined) {
      member?.end(0);
      return void resolve(
        refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_BAD_REQUEST', 400, 'invalid header value'),
      );
    }
    if (!host.acquire(target)) {
      member?.end(0);
      // A member at its `max` is busy, not broken: the next member may take the session (Apache's 503 failover).
      if (member !== undefined) return this.#attempt(session, head);
      return void resolve(
        refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_OVERLOADED', 503, 'too many tunnels to this backend'),
      );
    }
    let handshake: Handshake | undefined;
    let retry: readonly Buffer[] | undefined;
    const { balancer } = decision;
    const callbacks = {
      decided: (result: HandshakeResult) => {
        if (result.kind === 'retry') retry = result.early;
        else resolve(this.#decided(result, session, target, info, choice));
      },
      done: () => {
        if (handshake !== undefined) this.#handshakes.delete(handshake);
        if (retry !== undefined) {
          member!.end(0);
          // Synchronous with the handshake's end: no client byte can arrive with no listener to hold it. Before the
          // release below, so a drain never sees the session gone between two attempts.
          if (socket.destroyed) resolve(failed(host, clientGone(), info));
          else if (host.closing)
            resolve(
              refuseUpgrade(host, req, socket, 'ERR_WSTUNNEL_DRAINING', 503, 'the gateway is shutting down'),
            );
          else this.#attempt(session, Buffer.concat(retry));
        }
        host.release(target);
      },
    };
    const failover =
      member === undefined
        ? undefined
        : (failure: BackendFailure) => failsOver(balancer!, member, failure, session.tried, token);
    try {
      handshake = new Handshake({ client: socket, head, requestHead, target, token, failover }, callbacks);
      this.#handshakes.add(handshake);
    } catch (error) {
      // Dialling threw synchronously (an option Node rejects only at connect time): answer, never crash.
      host.release(target);
      member?.end(0);
      writeErrorResponse(socket, 502, 'cannot reach the backend');
      const cause = new TunnelError('ERR_WSTUNNEL_CONNECT', 502, 'cannot reach the backend', error);
      resolve(failed(host, cause, info));
    }
  }

  #decided(
    result: Exclude<HandshakeResult, { kind: 'retry' }>,
    session: Session,
    target: Target,
    info: TunnelInfo,
    choice: BackendChoice,
  ): TunnelOutcome {
    const host = this.#host;
    const { member } = choice;
    if (result.kind !== 'upgraded') member?.end(0);
    if (result.kind === 'failed') return failed(host, result.error, info);
    if (result.kind === 'refused') {
      host.report('refused', info, result.status);
      return { kind: 'refused', info, status: result.status };
    }
    // Locals, not `session`: the closures below live as long as the tunnel and must not keep the request alive.
    const client = session.socket;
    const readBase = session.readBase;
    const writeBase = (client as Partial<Socket>).bytesWritten ?? 0;
    // Live bytes for bytraffic and the snapshot, read only when asked: nothing is counted on the byte path.
    const settle = member?.track(() => liveBytes(client, readBase, writeBase));
    let closed!: (stats: TunnelStats) => void;
    const closedPromise = new Promise<TunnelStats>((resolve) => {
      closed = resolve;
    });
    // The handshake's `done` releases its slot right after this returns; the tunnel takes one of its own.
    host.take(target);
    const tunnel = switchProtocols(result, {
      client,
      target,
      info,
      closeFrames: this.#closeFrames,
      clientReadBase: readBase,
      extraFields: choice.cookie === undefined ? undefined : `Set-Cookie: ${choice.cookie}\r\n`,
      onClosed: (stats) => {
        this.#tunnels.delete(tunnel);
        host.release(target);
        settle?.(stats.bytesFromClient + stats.bytesToClient);
        host.report('close', info, stats);
        closed(stats);
      },
    });
    this.#tunnels.add(tunnel);
    host.report('open', info);
    return { kind: 'open', info, closed: closedPromise };
  }
}
