/** Why: the tunnel and plain-HTTP engines share their owner's drain state, per-target caps and event reporting. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TunnelError, type TunnelErrorCode } from './errors.ts';
import { requestInfo, type TunnelInfo, type TunnelOutcome, type WstunnelEvents } from './events.ts';
import type { PlainHooks } from './http-forward.ts';
import { writeErrorResponse, writeErrorToResponse } from './http-responses.ts';
import type { Target } from './target.ts';

/** What an engine needs from the {@link Wstunnel} that owns it. */
export interface EngineHost {
  /** Whether the owner is draining (new work gets 503). */
  readonly closing: boolean;
  /** Takes one of `target`'s `max` slots; `false` when none is free. */
  acquire(target: Target): boolean;
  /** Takes a slot whatever `max` says (a tunnel inheriting its handshake's). */
  take(target: Target): void;
  release(target: Target): void;
  report<E extends keyof WstunnelEvents>(event: E, ...args: WstunnelEvents[E]): void;
}

/** Reports a failure and returns it as an outcome. */
export function failed(host: EngineHost, error: TunnelError, info: TunnelInfo | undefined): TunnelOutcome {
  host.report('failed', error, info);
  return { kind: 'failed', error };
}

/** Answers an upgrade request on its raw socket with `status`, and reports it. */
export function refuseUpgrade(
  host: EngineHost,
  req: IncomingMessage,
  socket: Duplex,
  code: TunnelErrorCode,
  status: number,
  message: string,
): Promise<TunnelOutcome> {
  writeErrorResponse(socket, status, message);
  const info = requestInfo(req, '-', req.headers.upgrade ?? '-');
  return Promise.resolve(failed(host, new TunnelError(code, status, message), info));
}

/** Answers a plain request with `status`, and reports it. */
export function refuseRequest(
  host: EngineHost,
  req: IncomingMessage,
  res: ServerResponse,
  code: TunnelErrorCode,
  status: number,
  message: string,
  hooks?: PlainHooks,
): void {
  const error = new TunnelError(code, status, message);
  if (hooks?.fail !== undefined) hooks.fail(error);
  else writeErrorToResponse(res, status, message);
  failed(host, error, requestInfo(req, '-', '-'));
}
