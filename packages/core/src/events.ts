/** Why: logs and metrics are built from typed events and diagnostics_channel messages, so nothing in the byte path has to know about them. */

import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { MemberEvent } from './balancer/balancer.ts';
import type { TunnelError } from './errors.ts';
import type { HttpResult } from './http-forward.ts';

/** Identity of one handshake/tunnel, shared by every event about it. */
export interface TunnelInfo {
  /** Process-unique, increasing id. */
  readonly id: number;
  readonly method: string;
  /** The request-target the client sent. */
  readonly url: string;
  readonly remoteAddress: string;
  /** Backend URL the handshake was forwarded to (base URL + mapped path). */
  readonly backend: string;
  /** Upgrade protocol asked for. */
  readonly protocol: string;
  /** `Date.now()` when the handshake started. */
  readonly startedAt: number;
}

/** Why a tunnel ended. */
export type CloseReason =
  /** The client ended or closed its side first. */
  | 'client-closed'
  /** The backend ended or closed its side first. */
  | 'backend-closed'
  | 'client-error'
  | 'backend-error'
  /** No byte in either direction for `idleTimeout`. */
  | 'idle-timeout'
  /** Closed by the drain deadline of `close()`. */
  | 'shutdown';

/** Totals of a finished tunnel. */
export interface TunnelStats {
  /** Bytes received from the client after the 101, including bytes it sent early. */
  readonly bytesFromClient: number;
  /** Bytes sent to the client after the 101 head. */
  readonly bytesToClient: number;
  /** Milliseconds from the start of the handshake to the end of the tunnel. */
  readonly durationMs: number;
  readonly reason: CloseReason;
}

/** How a handshake was decided. `handleUpgrade()` never rejects for network faults. */
export type TunnelOutcome =
  /** The backend switched protocols; the 101 was relayed and bytes flow. */
  | { readonly kind: 'open'; readonly info: TunnelInfo; readonly closed: Promise<TunnelStats> }
  /** The backend answered with another status; that response was relayed and the connection closed. */
  | { readonly kind: 'refused'; readonly info: TunnelInfo; readonly status: number }
  /** wstunnel answered itself (400, 404, 502, 503, 504) or the client left; see `error.status`. */
  | { readonly kind: 'failed'; readonly error: TunnelError }
  /** The rule does not tunnel this protocol, so the request was proxied as plain HTTP with `Upgrade` removed. */
  | { readonly kind: 'proxied'; readonly info: TunnelInfo };

/** Events of a {@link Wstunnel}, for `on()`; none of them is `error`, so an unobserved failure never throws. */
export interface WstunnelEvents {
  /** A tunnel opened. */
  open: [info: TunnelInfo];
  /** The backend refused the upgrade with `status`, which was relayed. */
  refused: [info: TunnelInfo, status: number];
  /** A handshake failed before any tunnel existed. */
  failed: [error: TunnelError, info: TunnelInfo | undefined];
  /** A tunnel ended. */
  close: [info: TunnelInfo, stats: TunnelStats];
  /** A plain request a rule proxied as HTTP is over (`protocol` is `-`). */
  proxied: [info: TunnelInfo, result: HttpResult];
  /** A balancer member changed state: put in error, a health check flipped it, or the runtime API changed it. */
  balancer: [event: MemberEvent];
}

/**
 * diagnostics_channel names; messages are `{ info }`, `{ info, status }`, `{ error, info }`, `{ info, stats }` and
 * `{ info, result }` and `{ event }`.
 */
export const channels: {
  readonly open: ReturnType<typeof channel>;
  readonly refused: ReturnType<typeof channel>;
  readonly failed: ReturnType<typeof channel>;
  readonly close: ReturnType<typeof channel>;
  readonly proxied: ReturnType<typeof channel>;
  readonly balancer: ReturnType<typeof channel>;
} = {
  open: channel('wstunnel:open'),
  refused: channel('wstunnel:refused'),
  failed: channel('wstunnel:failed'),
  close: channel('wstunnel:close'),
  proxied: channel('wstunnel:proxied'),
  balancer: channel('wstunnel:balancer'),
};

const MESSAGE_FIELDS: { readonly [E in keyof WstunnelEvents]: readonly string[] } = {
  open: ['info'],
  refused: ['info', 'status'],
  failed: ['error', 'info'],
  close: ['info', 'stats'],
  proxied: ['info', 'result'],
  balancer: ['event'],
};

/** Publishes an event's arguments on its channel as the documented message object, when someone subscribes. */
export function publish<E extends keyof WstunnelEvents>(event: E, args: WstunnelEvents[E]): void {
  const target = channels[event];
  if (!target.hasSubscribers) return;
  const message: Record<string, unknown> = {};
  MESSAGE_FIELDS[event].forEach((field, at) => {
    message[field] = args[at];
  });
  target.publish(message);
}

let lastTunnelId = 0;

/** The identity of a new handshake: what the client asked for and where it is being sent. */
export function requestInfo(req: IncomingMessage, backend: string, protocol: string): TunnelInfo {
  return {
    id: ++lastTunnelId,
    method: req.method ?? 'GET',
    url: req.url ?? '',
    remoteAddress: req.socket.remoteAddress ?? '',
    backend,
    protocol,
    startedAt: Date.now(),
  };
}
