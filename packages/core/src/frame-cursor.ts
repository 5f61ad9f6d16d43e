/**
 * Why: a close frame may only be injected between frames (RFC 6455 5.2), so when close frames are enabled
 * each tunnel direction tracks where frames end. It reads frame headers only, never payload bytes.
 */

import { randomBytes } from 'node:crypto';

/** Tracks WebSocket frame boundaries in one direction of a byte stream. */
export class FrameCursor {
  readonly #header = new Uint8Array(14);
  #headerBytes = 0;
  #payload = 0;

  /** Whether the bytes seen so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.#headerBytes === 0 && this.#payload === 0;
  }

  /**
   * Follows the frames in `chunk`. With `stopAtBoundary`, stops at the first boundary it reaches and returns
   * how many bytes it consumed (0 when already at one); otherwise consumes and returns the whole length.
   */
  advance(chunk: Uint8Array, stopAtBoundary: boolean): number {
    let i = 0;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.#payload > 0) {
        const take = Math.min(this.#payload, chunk.length - i);
        this.#payload -= take;
        i += take;
        continue;
      }
      this.#header[this.#headerBytes++] = chunk[i++]!;
      this.#readHeader();
    }
    return i;
  }

  #readHeader(): void {
    const h = this.#header;
    if (this.#headerBytes < 2) return;
    const short = h[1]! & 0x7f;
    const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
    if (this.#headerBytes < 2 + extended + (h[1]! & 0x80 ? 4 : 0)) return;
    let length = short;
    if (extended === 2) length = (h[2]! << 8) | h[3]!;
    else if (extended === 8) length = uint32(h, 2) * 2 ** 32 + uint32(h, 6);
    this.#headerBytes = 0;
    this.#payload = length;
  }
}

function uint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** A close frame with `code` (1001 Going Away by default); `masked` for frames a client sends (RFC 6455 5.3). */
export function closeFrame(masked: boolean, code = 1001, reason = 'gateway shutting down'): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}
