/**
 * Why: Node emits a pipelined upgrade while the response to an earlier request on the same connection may still be
 * being written; responses go out in request order (RFC 9112 9.3.2), so nothing is written for the upgrade until then.
 */

import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Turns to wait for Node to unbind a finished response from its socket (it does so within one turn). */
const MAX_UNBIND_TURNS = 3;

/** Runs `next` once no earlier response is bound to `socket` (at once when none is). */
export function afterPendingResponse<T>(socket: Duplex, next: () => Promise<T>, turns = 0): Promise<T> {
  // Node marks the response currently bound to a socket as `_httpMessage` (lib/_http_server.js assignSocket).
  const previous = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (previous === undefined || previous === null || turns >= MAX_UNBIND_TURNS) return next();
  return new Promise((resolve) => {
    // Node removed its own error listener before emitting 'upgrade': a reset while waiting must not go uncaught.
    const destroy = (): void => {
      socket.destroy();
    };
    const go = (): void => {
      previous.off('finish', go).off('close', go);
      // Node 22 still has `previous` bound while 'finish' is emitted; it is unbound by the next turn.
      setImmediate(() => {
        socket.off('error', destroy);
        resolve(afterPendingResponse(socket, next, turns + 1));
      });
    };
    socket.on('error', destroy);
    if (previous.writableFinished || previous.destroyed) go();
    else previous.once('finish', go).once('close', go);
  });
}
