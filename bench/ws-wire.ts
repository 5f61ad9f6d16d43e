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

/** Writes a masked (client) frame header for `length` bytes with the 4-byte `mask` at `at`; returns its length. */
export function writeClientHeader(out: Buffer, at: number, b0: number, length: number, mask: Buffer): number {
  const header = writeServerHeader(out, at, b0, length);
  out[at + 1]! |= 0x80;
  mask.copy(out, at + header, 0, 4);
  return header + 4;
}

/** Payloads shorter than this are unmasked byte by byte; longer ones a 32-bit word at a time. */
const WORDWISE_BYTES = 64;

/**
 * XORs `buf[start, end)` in place with `mask`, whose byte `phase & 3` applies to `buf[start]` (phase = offset of
 * `start` in the frame's payload, for payloads that arrive in pieces).
 */
export function unmask(buf: Buffer, start: number, end: number, mask: Buffer, phase: number): void {
  let i = start;
  if (end - start >= WORDWISE_BYTES) {
    const aligned = start + ((4 - ((buf.byteOffset + start) & 3)) & 3);
    for (; i < aligned; i++) buf[i]! ^= mask[(phase + i - start) & 3]!;
    const words = (end - i) >>> 2;
    const p = phase + i - start;
    // The mask rotated to this word boundary, read in the platform's byte order like the view below.
    const rotated = Uint8Array.of(mask[p & 3]!, mask[(p + 1) & 3]!, mask[(p + 2) & 3]!, mask[(p + 3) & 3]!);
    const word = new Uint32Array(rotated.buffer)[0]!;
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words * 4;
  }
  for (; i < end; i++) buf[i]! ^= mask[(phase + i - start) & 3]!;
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
