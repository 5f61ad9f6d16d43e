/** Why: the backend echoes each frame as its bytes arrive, so a 1 MiB message is never buffered whole nor copied byte by byte. */

import type { Socket } from 'node:net';
import { headerLength, payloadLength, unmask, writeServerHeader } from './ws-wire.ts';

const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** Payload pieces at least this long are written as slices of the input instead of being copied. */
const PASS_THROUGH_BYTES = 1024;

/** One chunk's echo: headers and small payload pieces copied into one buffer, large payload pieces passed through. */
class Output {
  #buf: Buffer | undefined;
  #start = 0;
  #end = 0;
  readonly #pieces: Buffer[] = [];

  /** `inputLeft` bounds what is still to come: an echo is never longer than the client bytes it answers. */
  header(b0: number, length: number, inputLeft: number): void {
    this.#end += writeServerHeader(this.#reserve(inputLeft), this.#end, b0, length);
  }

  payload(src: Buffer, start: number, end: number): void {
    if (end - start >= PASS_THROUGH_BYTES) {
      this.#cut();
      this.#pieces.push(src.subarray(start, end));
      return;
    }
    this.#end += src.copy(this.#reserve(src.length - start), this.#end, start, end);
  }

  writeTo(socket: Socket): void {
    this.#cut();
    if (this.#pieces.length === 1) socket.write(this.#pieces[0]!);
    else if (this.#pieces.length > 1) {
      socket.cork();
      for (const piece of this.#pieces) socket.write(piece);
      socket.uncork();
    }
  }

  #reserve(inputLeft: number): Buffer {
    this.#buf ??= Buffer.allocUnsafe(inputLeft);
    return this.#buf;
  }

  #cut(): void {
    if (this.#end > this.#start) this.#pieces.push(this.#buf!.subarray(this.#start, this.#end));
    this.#start = this.#end;
  }
}

/**
 * Echoes a connection's client frames back unmasked, streaming each payload through as it arrives; answers ping
 * with pong, drops pongs, and ends the socket after echoing a close. Unmasking is skipped for an all-zero key.
 */
export class FrameEcho {
  /** Header bytes of the next frame when a chunk ended inside them. */
  #partialHeader: Buffer | undefined;
  #inFrame = false;
  /** Payload bytes of the current frame still to come, and already passed. */
  #remaining = 0;
  #offset = 0;
  readonly #mask = Buffer.alloc(4);
  #zeroMask = true;
  #echo = true;
  #close = false;
  #closed = false;

  /** Echoes what `chunk` brings; returns false once a close frame was echoed (later input is ignored). */
  feed(socket: Socket, chunk: Buffer): boolean {
    if (this.#closed) return false;
    const buf = this.#partialHeader === undefined ? chunk : Buffer.concat([this.#partialHeader, chunk]);
    this.#partialHeader = undefined;
    const out = new Output();
    let at = 0;
    while (at < buf.length) {
      if (!this.#inFrame) {
        const header = headerLength(buf, at);
        if (header === -1) {
          this.#partialHeader = Buffer.from(buf.subarray(at));
          break;
        }
        this.#startFrame(buf, at, header, out);
        at += header;
      }
      const n = Math.min(this.#remaining, buf.length - at);
      if (n > 0 && this.#echo) {
        if (!this.#zeroMask) unmask(buf, at, at + n, this.#mask, this.#offset);
        out.payload(buf, at, at + n);
      }
      at += n;
      this.#remaining -= n;
      this.#offset += n;
      if (this.#remaining > 0) break;
      this.#inFrame = false;
      if (this.#close) {
        this.#closed = true;
        out.writeTo(socket);
        socket.end();
        return false;
      }
    }
    out.writeTo(socket);
    return true;
  }

  #startFrame(buf: Buffer, at: number, header: number, out: Output): void {
    if ((buf[at + 1]! & 0x80) === 0) throw new Error('client frame is not masked');
    const length = payloadLength(buf, at);
    const first = buf[at]!;
    const opcode = first & 0x0f;
    buf.copy(this.#mask, 0, at + header - 4, at + header);
    this.#zeroMask = this.#mask.readUInt32BE(0) === 0;
    this.#echo = opcode !== OP_PONG;
    this.#close = opcode === OP_CLOSE;
    if (this.#echo) out.header(opcode === OP_PING ? 0x80 | OP_PONG : first, length, buf.length - at);
    this.#inFrame = true;
    this.#remaining = length;
    this.#offset = 0;
  }
}
