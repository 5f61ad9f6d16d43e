/** Why: once the backend has sent its 101, the client gets a regenerated 101 and the two sockets become one Splice. */

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelInfo, TunnelStats } from './events.ts';
import type { HandshakeResult } from './handshake.ts';
import { switchingProtocolsHead } from './http-responses.ts';
import { headerValues } from './response-head.ts';
import { Splice } from './splice.ts';
import type { Target } from './target.ts';

/** What {@link switchProtocols} needs besides the backend's answer. */
export interface SwitchOptions {
  readonly client: Duplex;
  readonly target: Target;
  readonly info: TunnelInfo;
  /** Track WebSocket frames so a drain can send 1001 close frames. */
  readonly closeFrames: boolean;
  /** The client socket's `bytesRead` before the request head, so stats count tunnel bytes only. */
  readonly clientReadBase: number;
  /** Header lines (`Name: value\r\n`) the gateway adds to the 101, such as a sticky route's `Set-Cookie`. */
  readonly extraFields?: string | undefined;
  readonly onClosed: (stats: TunnelStats) => void;
}

/** Relays the 101 and starts the byte tunnel. */
export function switchProtocols(
  result: Extract<HandshakeResult, { kind: 'upgraded' }>,
  options: SwitchOptions,
): Splice {
  const { client, target, info } = options;
  // Validated equal to the token asked for, case aside; the client sees the backend's own spelling, as Apache relays.
  const upgrade = headerValues(result.response, 'upgrade')[0]!;
  client.write(switchingProtocolsHead(result.response, upgrade, options.extraFields), 'latin1');
  return new Splice({
    client,
    backend: result.backend,
    target,
    closeFrames: options.closeFrames && info.protocol.toLowerCase() === 'websocket',
    rest: result.rest,
    early: result.early,
    startedAt: info.startedAt,
    clientReadBase: options.clientReadBase,
    clientWriteBase: (client as Partial<Socket>).bytesWritten ?? 0,
    onClosed: options.onClosed,
  });
}
