/** Why: every answer wstunnel itself writes on a raw socket is a complete HTTP/1.1 response, never a silent close or a hang. */

import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { connectionNamed, HOP_BY_HOP } from './header-lists.ts';
import type { ResponseHead } from './response-head.ts';

/** How long a client may take to read an error response before its socket is destroyed anyway. */
const ERROR_RESPONSE_LINGER_MS = 5_000;

/**
 * Writes `status` with a short plain-text body and `Connection: close`, then closes the socket once it is
 * flushed. Does nothing if the socket is already gone.
 */
export function writeErrorResponse(
  socket: Duplex,
  status: number,
  message: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(extraHeaders)) head += `${name}: ${value}\r\n`;
  closeAfter(socket, `${head}Connection: close\r\n\r\n${body}`);
}

/** Ends the socket after `data` and destroys it when flushed, or after a bounded linger if the peer stops reading. */
export function closeAfter(socket: Duplex, data: string | Buffer): void {
  const destroy = (): void => {
    socket.destroy();
  };
  const linger = setTimeout(destroy, ERROR_RESPONSE_LINGER_MS).unref();
  socket.once('finish', destroy);
  socket.once('error', destroy);
  socket.once('close', () => clearTimeout(linger));
  socket.end(data);
}

/** Response header fields minus hop-by-hop ones and those the backend named in `Connection`, as header lines. */
function endToEndFields(head: ResponseHead, keep?: string): string {
  const named = connectionNamed(
    head.headers.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v),
  );
  let fields = '';
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower !== keep && (HOP_BY_HOP.has(lower) || lower === 'content-length' || named.has(lower))) continue;
    fields += `${name}: ${value}\r\n`;
  }
  return fields;
}

/** The 101 sent to the client, regenerated from the backend's validated header fields (no Date/Server, as Apache). */
export function switchingProtocolsHead(head: ResponseHead, token: string): string {
  return `HTTP/1.1 101 Switching Protocols\r\n${endToEndFields(head)}Connection: Upgrade\r\nUpgrade: ${token}\r\n\r\n`;
}

/**
 * The head of a relayed non-101 answer. The client connection is closed after it (it never becomes a tunnel),
 * so the body is delimited by `contentLength` when known and by the close otherwise.
 */
export function relayedResponseHead(head: ResponseHead, contentLength: number | undefined): string {
  const reason = head.reason === '' ? (STATUS_CODES[head.status] ?? '') : head.reason;
  // A 426 keeps the backend's Upgrade so the client learns which protocol to ask for.
  const fields = endToEndFields(head, head.status === 426 ? 'upgrade' : undefined);
  const length = contentLength === undefined ? '' : `Content-Length: ${contentLength}\r\n`;
  return `HTTP/1.1 ${head.status} ${reason}\r\n${fields}${length}Connection: close\r\n\r\n`;
}

/** Headers of a 426 (RFC 9110 15.5.22): the protocols a route would upgrade to. */
export function upgradeRequiredHeaders(upgrade: readonly string[] | '*'): Record<string, string> {
  return { Upgrade: (upgrade === '*' ? ['websocket'] : upgrade).join(', '), Connection: 'Upgrade' };
}

/** Answers a plain request on a tunnel-only route: 426 with the Upgrade it needs, then the connection closes. */
export function writeUpgradeRequired(res: ServerResponse, upgrade: readonly string[] | '*'): void {
  const body = '426 Upgrade Required: this route only tunnels upgrades\n';
  res
    .writeHead(426, {
      ...upgradeRequiredHeaders(upgrade),
      Connection: 'Upgrade, close',
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    })
    .end(body);
}
