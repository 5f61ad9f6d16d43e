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
export function writeErrorResponse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const reason = STATUS_CODES[status] ?? 'Unknown';
  const body = `${status} ${reason}: ${message}\n`;
  closeAfter(
    socket,
    `HTTP/1.1 ${status} ${reason}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Ends the socket after `data` and destroys it when flushed, or after a bounded linger if the peer stops reading. */
export function closeAfter(socket: Duplex, data: string | Buffer): void {
  const destroy = (): void => {
    socket.destroy();
  };
  const linger = setTimeout(destroy, ERROR_RESPONSE_LINGER_MS).unref();
  socket.once('error', destroy);
  socket.once('close', () => clearTimeout(linger));
  // A lingering close (Apache's lingering_close): after our FIN, read and drop what the peer still sends until its own
  // FIN closes the socket. Closing at once would answer those bytes with a RST, and a RST makes the peer's kernel
  // discard the response it has not read yet.
  socket.on('data', ignore);
  socket.resume();
  socket.end(data);
}

function ignore(): void {}

/** How a relayed head treats the fields whose values wstunnel decides itself. */
interface FieldPolicy {
  /** Keep the backend's `Upgrade` (a relayed 426 tells the client what to ask for). */
  readonly keepUpgrade?: boolean;
  /** The body length to advertise, written where the backend put its own `Content-Length`. */
  readonly contentLength?: number | undefined;
}

/**
 * The backend's fields in their order, minus hop-by-hop ones and those it named in `Connection`, as header lines;
 * plus whether it sent `Date` and whether a `Content-Length` and an `Upgrade` line were written.
 */
function endToEndFields(head: ResponseHead, policy: FieldPolicy = {}) {
  const named = connectionNamed(
    head.headers.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v),
  );
  let fields = '';
  let date = false;
  let length = false;
  let upgrade = false;
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      if (policy.contentLength !== undefined && !length)
        fields += `Content-Length: ${policy.contentLength}\r\n`;
      length = true;
      continue;
    }
    if (lower === 'upgrade' && policy.keepUpgrade === true && !upgrade) {
      upgrade = true;
      fields += `${name}: ${value}\r\n`;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    if (lower === 'date') date = true;
    fields += `${name}: ${value}\r\n`;
  }
  return { fields, date, length: length && policy.contentLength !== undefined, upgrade };
}

/**
 * The 101 sent to the client, regenerated from the backend's validated fields, ending with `Connection: Upgrade`
 * and the backend's own `Upgrade` value (no Date/Server, as Apache's interim response).
 */
export function switchingProtocolsHead(head: ResponseHead, upgrade: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\n${endToEndFields(head).fields}${extra}Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n\r\n`;
}

/**
 * The head of a relayed non-101 answer. The client connection is closed after it (it never becomes a tunnel),
 * so the body is delimited by `contentLength` when known and by the close otherwise. A proxy adds `Date` when the
 * backend sent none (RFC 9110 6.6.1).
 */
export function relayedResponseHead(head: ResponseHead, contentLength: number | undefined): string {
  const reason = head.reason === '' ? (STATUS_CODES[head.status] ?? '') : head.reason;
  const relayed = endToEndFields(head, { keepUpgrade: head.status === 426, contentLength });
  const date = relayed.date ? '' : `Date: ${new Date().toUTCString()}\r\n`;
  const length = relayed.length || contentLength === undefined ? '' : `Content-Length: ${contentLength}\r\n`;
  // Upgrade is hop-by-hop, so a kept one is named in Connection (RFC 9110 7.8).
  const connection = relayed.upgrade ? 'Upgrade, close' : 'close';
  return `HTTP/1.1 ${head.status} ${reason}\r\n${date}${relayed.fields}${length}Connection: ${connection}\r\n\r\n`;
}

/** Answers a plain request with `status` and a short text body, closing the connection after it (never reused after an error). */
export function writeErrorToResponse(res: ServerResponse, status: number, message: string): void {
  const body = `${status} ${STATUS_CODES[status] ?? 'Unknown'}: ${message}\n`;
  res
    .writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    })
    .end(body);
}
