/** Why: the raw echo backend and the load generator speak the same few bytes of RFC 6455, kept in one place so both agree. */

import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** The generator sends one fixed key (the RFC's sample nonce); every 101 must carry its accept value. */
export const CLIENT_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const CLIENT_ACCEPT: string = acceptFor(CLIENT_KEY);

/** Opcode byte of a final binary frame. */
export const BINARY_FIN = 0x82;
/** Largest frame payload the bench accepts; anything bigger is a bug, not a load. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;

/** The upgrade request the generator writes on every connection. */
export function upgradeRequest(host: string, path: string): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
}

/**
 * Length of the frame header at `at` (2 to 14 bytes, mask key included), or -1 when `buf` does not hold all of
 * it yet. Throws on a payload larger than {@link MAX_PAYLOAD}.
 */
export function headerLength(buf: Buffer, at: number): number {
  if (buf.length - at < 2) return -1;
  const b1 = buf[at + 1]!;
  const short = b1 & 0x7f;
  const length = (short === 126 ? 4 : short === 127 ? 10 : 2) + (b1 & 0x80 ? 4 : 0);
  return buf.length - at < length ? -1 : length;
}

/** Payload length of the frame whose complete header starts at `at`. */
export function payloadLength(buf: Buffer, at: number): number {
  const short = buf[at + 1]! & 0x7f;
  const length = short === 126 ? buf.readUInt16BE(at + 2) : short === 127 ? buf.readUIntBE(at + 4, 6) : short;
  if (short === 127 && buf.readUInt16BE(at + 2) !== 0) throw new Error('frame payload too large');
  if (length > MAX_PAYLOAD) throw new Error(`frame payload of ${length} bytes is too large`);
  return length;
}

/** Writes an unmasked (server) frame header for `length` bytes at `at`; returns the header length. */
export function writeServerHeader(out: Buffer, at: number, b0: number, length: number): number {
  out[at] = b0;
  if (length < 126) {
    out[at + 1] = length;
    return 2;
  }
  if (length < 65_536) {
    out[at + 1] = 126;
    out.writeUInt16BE(length, at + 2);
    return 4;
  }
  out[at + 1] = 127;
  out.writeUInt16BE(0, at + 2);
  out.writeUIntBE(length, at + 4, 6);
  return 10;
}
