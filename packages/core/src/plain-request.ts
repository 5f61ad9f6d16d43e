/**
 * Why: a request that carries `Upgrade` but that nobody tunnels is still an HTTP request (RFC 9110 7.8 lets a server
 * ignore Upgrade). Node has already handed its socket to the 'upgrade' path, so it is served here through the
 * server's own request handler, on a ServerResponse bound to the raw socket, and the connection closes after it.
 */

import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeAfter, writeErrorResponse } from './http-responses.ts';

/** Serves `req` as a plain request with the server's `'request'` listeners; 404 when it has none. */
export function serveAsPlainRequest(server: Server, req: IncomingMessage, socket: Duplex): void {
  if (!req.url?.startsWith('/'))
    return writeErrorResponse(socket, 400, 'request-target must be in origin-form');
  if (server.listenerCount('request') === 0)
    return writeErrorResponse(socket, 404, 'no route for this request');
  respondOnSocket(req, socket, (res) => server.emit('request', req, res));
}

/**
 * Calls `serve` with a ServerResponse bound to the raw socket of an upgrade request; the connection closes after the
 * response. A request with a body is refused with 400: the parser stopped at the head, so the body would never come.
 */
export function respondOnSocket(
  req: IncomingMessage,
  socket: Duplex,
  serve: (res: ServerResponse) => void,
): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0') {
    return writeErrorResponse(socket, 400, 'a request with Upgrade and a body cannot be served');
  }
  // The request has no body, but its stream was never ended by the parser; end it so body readers finish.
  if (!req.readableEnded) req.push(null);
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => {
    // A response unbound from the socket (a route took it over, or it went on to another owner) closes nothing.
    if (res.socket !== socket) return;
    // Stay bound: Node emits the response's (and request's) 'close' when the socket closes, as for any request.
    req.resume();
    closeAfter(socket, '');
  });
  socket.once('error', () => socket.destroy());
  serve(res);
}
