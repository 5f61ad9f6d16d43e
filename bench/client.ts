/**
 * Why: the generator's connections are raw `net` sockets writing pre-built bytes and checking every reply, so it
 * spends little CPU of the two shared cores and still proves each echo correct.
 */

import { connect, type Socket } from 'node:net';
import type { Endpoint } from './protocol.ts';
import { BINARY_FIN, CLIENT_ACCEPT } from './ws-wire.ts';

/** Any single step (connect + upgrade, close) taking longer than this fails the run. */
export const STEP_TIMEOUT_MS = 5_000;
/** Bytes in every echoed message: sequence number, connection number, fixed pattern. */
export const PAYLOAD_BYTES = 32;
/** A masked client frame: 2 header bytes, 4 mask bytes, payload. */
export const CLIENT_FRAME_BYTES: number = 6 + PAYLOAD_BYTES;
/** An unmasked server frame: 2 header bytes, payload. */
const SERVER_FRAME_BYTES = 2 + PAYLOAD_BYTES;

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const MASK_WORD = MASK.readUInt32BE(0);
/** Payload bytes 8..31, the same in every message. */
const PATTERN = Buffer.from('wstunnel-bench-0123456789'.slice(0, PAYLOAD_BYTES - 8), 'latin1');
/** A masked frame with sequence and connection 0, copied and patched for every message. */
const TEMPLATE = (() => {
  const frame = Buffer.alloc(CLIENT_FRAME_BYTES);
  frame[0] = BINARY_FIN;
  frame[1] = 0x80 | PAYLOAD_BYTES;
  MASK.copy(frame, 2);
  PATTERN.copy(frame, 14);
  for (let i = 0; i < PAYLOAD_BYTES; i++) frame[6 + i]! ^= MASK[i & 3]!;
  return frame;
})();

/** Writes message `seq` of connection `conn` as a masked frame at `at`. */
export function writeMessage(out: Buffer, at: number, conn: number, seq: number): void {
  TEMPLATE.copy(out, at);
  // Payload offsets 0..3 and 4..7 line up with the 4 mask bytes, so the mask applies as one 32-bit XOR.
  out.writeUInt32BE((seq ^ MASK_WORD) >>> 0, at + 6);
  out.writeUInt32BE((conn ^ MASK_WORD) >>> 0, at + 10);
}

/** Reads one connection's echoes, checking each is the next message that connection sent, byte for byte. */
export class ReplyReader {
  readonly #conn: number;
  #next = 0;
  #pending: Buffer | undefined;

  constructor(conn: number) {
    this.#conn = conn;
  }

  /** Echoes verified so far. */
  get received(): number {
    return this.#next;
  }

  /** Consumes `chunk`; returns how many complete echoes it finished. Throws on any wrong byte. */
  read(chunk: Buffer): number {
    const buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    let at = 0;
    let count = 0;
    while (buf.length - at >= SERVER_FRAME_BYTES) {
      if (buf[at] !== BINARY_FIN || buf[at + 1] !== PAYLOAD_BYTES) {
        throw new Error(
          `connection ${this.#conn}: expected a ${PAYLOAD_BYTES}-byte binary echo, got header ` +
            `${buf.subarray(at, at + 2).toString('hex')} after ${this.#next} echoes`,
        );
      }
      const seq = buf.readUInt32BE(at + 2);
      const conn = buf.readUInt32BE(at + 6);
      if (seq !== this.#next || conn !== this.#conn || PATTERN.compare(buf, at + 10, at + 34) !== 0) {
        throw new Error(
          `connection ${this.#conn}: echo ${this.#next} is wrong (seq ${seq}, connection ${conn}, ` +
            `payload ${buf.subarray(at + 2, at + 34).toString('hex')})`,
        );
      }
      this.#next++;
      count++;
      at += SERVER_FRAME_BYTES;
    }
    if (at < buf.length) this.#pending = Buffer.from(buf.subarray(at));
    return count;
  }
}

/** A connection that completed its upgrade. */
export interface Tunnel {
  readonly socket: Socket;
  /** Bytes that arrived after the 101 head. */
  readonly rest: Buffer;
}

/** Connects, writes `request`, and resolves once a valid 101 (right Sec-WebSocket-Accept) has arrived. */
export function openTunnel(endpoint: Endpoint, request: Buffer): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: endpoint.port, noDelay: true });
    let buffered: Buffer | undefined;
    const fail = (reason: string): void => {
      cleanup();
      socket.destroy();
      reject(new Error(`upgrade via port ${endpoint.port}: ${reason}`));
    };
    const timer = setTimeout(() => fail(`no 101 within ${STEP_TIMEOUT_MS} ms`), STEP_TIMEOUT_MS);
    const onConnect = (): void => void socket.write(request);
    const onError = (error: Error): void => fail(error.message);
    const onClose = (): void => fail('connection closed before the 101');
    const onData = (chunk: Buffer): void => {
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > 16 * 1024) fail('response head too large');
        return;
      }
      const head = buffered.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 101 ')) return fail(`expected 101, got ${JSON.stringify(head)}`);
      if (!head.toLowerCase().includes(`\r\nsec-websocket-accept: ${CLIENT_ACCEPT.toLowerCase()}`))
        return fail(`wrong or missing Sec-WebSocket-Accept in ${JSON.stringify(head)}`);
      cleanup();
      resolve({ socket, rest: buffered.subarray(end + 4) });
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('connect', onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/** Ends the connection and resolves once the peer has closed its side too. */
export function closeTunnel(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`peer did not close within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`closing: ${error.message}`));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    // Nothing more is expected; data still arriving would be a bug in the phase, so it is drained and ignored.
    socket.resume();
    socket.end();
  });
}

/** Opens `count` tunnels one after another, runs `use` on them, and closes them all whatever happened. */
export async function withTunnels<T>(
  endpoint: Endpoint,
  request: Buffer,
  count: number,
  use: (tunnels: readonly Tunnel[]) => Promise<T>,
): Promise<T> {
  const tunnels: Tunnel[] = [];
  try {
    for (let i = 0; i < count; i++) tunnels.push(await openTunnel(endpoint, request));
    return await use(tunnels);
  } finally {
    await Promise.all(tunnels.map((tunnel) => closeTunnel(tunnel.socket).catch(() => undefined)));
  }
}
