/** Why: bulk throughput with 1 MiB messages, verified byte for byte at memcmp speed so the generator is never what limits it. */

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { withTunnels } from './client.ts';
import { measureCpu, result } from './measure.ts';
import type { BulkPhase, PhaseResult } from './protocol.ts';
import { type MessageStream, pump } from './pump.ts';
import { BINARY_FIN, upgradeRequest, writeClientHeader, writeServerHeader } from './ws-wire.ts';

/**
 * All-zero masking key: legal for a non-browser client (RFC 6455 5.3) and a no-op XOR, so the payload on the
 * wire is the plain bytes and the backend echoes them without touching each byte.
 */
const ZERO_MASK = Buffer.alloc(4);
/** Every payload starts with its sequence and connection numbers; the rest is the connection's random tail. */
const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 14;

export async function runBulk(phase: BulkPhase): Promise<PhaseResult> {
  if (phase.messageBytes <= PREFIX_BYTES)
    throw new Error(`bulk: messages of ${phase.messageBytes} bytes are too small`);
  const request = upgradeRequest(`127.0.0.1:${phase.endpoint.port}`, phase.endpoint.path);
  // A tail per connection, so bytes from one connection showing up on another are caught too.
  const tails = Array.from({ length: phase.connections }, () =>
    randomBytes(phase.messageBytes - PREFIX_BYTES),
  );
  return withTunnels(phase.endpoint, request, phase.connections, async (tunnels) => {
    const stopCpu = measureCpu(phase.pids);
    const start = performance.now();
    const echoed = await pump(
      { name: 'bulk', ...phase },
      tunnels,
      (conn, socket) => new BulkStream(socket, conn, tails[conn]!),
    );
    return result('bulk', echoed, start, stopCpu, { bytes: echoed * phase.messageBytes });
  });
}

/** One connection's large messages: sent as header + shared tail (no copy), echoes compared piecewise as they arrive. */
class BulkStream implements MessageStream {
  readonly #socket: Socket;
  readonly #conn: number;
  readonly #tail: Buffer;
  readonly #messageBytes: number;
  /** The echo's expected frame header, and the bytes of it received so far. */
  readonly #expectedHeader: Buffer;
  readonly #header: Buffer;
  #headerHave = 0;
  /** Payload bytes of the current echo verified so far; -1 while its header is being read. */
  #offset = -1;
  readonly #expectedPrefix = Buffer.alloc(PREFIX_BYTES);
  #next = 0;

  constructor(socket: Socket, conn: number, tail: Buffer) {
    this.#socket = socket;
    this.#conn = conn;
    this.#tail = tail;
    this.#messageBytes = PREFIX_BYTES + tail.length;
    const header = Buffer.alloc(MAX_HEADER_BYTES);
    this.#expectedHeader = header.subarray(0, writeServerHeader(header, 0, BINARY_FIN, this.#messageBytes));
    this.#header = Buffer.alloc(this.#expectedHeader.length);
  }

  send(first: number, n: number): void {
    this.#socket.cork();
    for (let k = 0; k < n; k++) {
      const head = Buffer.allocUnsafe(MAX_HEADER_BYTES + PREFIX_BYTES);
      const at = writeClientHeader(head, 0, BINARY_FIN, this.#messageBytes, ZERO_MASK);
      head.writeUInt32BE(first + k, at);
      head.writeUInt32BE(this.#conn, at + 4);
      this.#socket.write(head.subarray(0, at + PREFIX_BYTES));
      this.#socket.write(this.#tail);
    }
    this.#socket.uncork();
  }

  read(chunk: Buffer): number {
    let at = 0;
    let completed = 0;
    while (at < chunk.length) {
      if (this.#offset === -1) {
        const take = Math.min(this.#header.length - this.#headerHave, chunk.length - at);
        chunk.copy(this.#header, this.#headerHave, at, at + take);
        this.#headerHave += take;
        at += take;
        if (this.#headerHave < this.#header.length) break;
        if (!this.#header.equals(this.#expectedHeader)) {
          throw new Error(
            `bulk connection ${this.#conn}: echo ${this.#next} has header ${this.#header.toString('hex')}, ` +
              `expected ${this.#expectedHeader.toString('hex')}`,
          );
        }
        this.#headerHave = 0;
        this.#offset = 0;
        this.#expectedPrefix.writeUInt32BE(this.#next, 0);
        this.#expectedPrefix.writeUInt32BE(this.#conn, 4);
      }
      const n = Math.min(this.#messageBytes - this.#offset, chunk.length - at);
      this.#verify(chunk, at, at + n);
      at += n;
      this.#offset += n;
      if (this.#offset === this.#messageBytes) {
        this.#offset = -1;
        this.#next++;
        completed++;
      }
    }
    return completed;
  }

  /** Compares `chunk[start, end)` with the current echo's expected payload from `#offset` on. */
  #verify(chunk: Buffer, start: number, end: number): void {
    let i = start;
    let offset = this.#offset;
    if (offset < PREFIX_BYTES && i < end) {
      const k = Math.min(PREFIX_BYTES - offset, end - i);
      if (chunk.compare(this.#expectedPrefix, offset, offset + k, i, i + k) !== 0) {
        throw new Error(
          `bulk connection ${this.#conn}: echo ${this.#next} does not start with its sequence and connection ` +
            `numbers (payload bytes ${offset}.. are ${chunk.toString('hex', i, i + k)}, expected ` +
            `${this.#expectedPrefix.toString('hex', offset, offset + k)})`,
        );
      }
      i += k;
      offset += k;
    }
    const from = offset - PREFIX_BYTES;
    if (i < end && chunk.compare(this.#tail, from, from + (end - i), i, end) !== 0) {
      let wrong = 0;
      while (chunk[i + wrong] === this.#tail[from + wrong]) wrong++;
      throw new Error(
        `bulk connection ${this.#conn}: echo ${this.#next} differs at payload byte ${offset + wrong} of ` +
          `${this.#messageBytes}`,
      );
    }
  }
}
