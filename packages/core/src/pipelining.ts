/**
 * Why: Node emits a pipelined upgrade while the response to an earlier request on the same connection may still be
 * being written; responses go out in request order (RFC 9112 9.3.2), so nothing is written for the upgrade until then.
 */

import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Runs `next` once no earlier response is pending on `socket` (at once when none is). */
export function afterPendingResponse<T>(socket: Duplex, next: () => Promise<T>): Promise<T> {
  // Node marks the response currently bound to a socket as `_httpMessage` (lib/_http_server.js assignSocket).
  const previous = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (previous === undefined || previous === null || previous.writableFinished) return next();
  return new Promise((resolve) => {
    // Node removed its own error listener before emitting 'upgrade': a reset while waiting must not go uncaught.
    const destroy = (): void => {
      socket.destroy();
    };
    const go = (): void => {
      previous.off('finish', go).off('close', go);
      socket.off('error', destroy);
      resolve(next());
    };
    socket.on('error', destroy);
    previous.once('finish', go).once('close', go);
  });
}
