/** Why: the backend behind every target is a raw `net` WebSocket echo, far cheaper than `ws`, so it steals little CPU from the proxy under test. */

import { createServer, type Socket } from 'node:net';
import { acceptFor, headerLength, payloadLength, writeServerHeader } from './ws-wire.ts';

/** Request heads larger than this are refused. */
const MAX_HEAD_BYTES = 16 * 1024;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** Answers the handshake, then echoes every data frame back unmasked; answers ping with pong and close with close. */
function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let pending: Buffer | undefined;
  let upgraded = false;
  socket.on('data', (chunk: Buffer) => {
    let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_HEAD_BYTES) socket.end(BAD_REQUEST);
        else pending = buf;
        return;
      }
      const response = handshake(buf.toString('latin1', 0, end));
      if (response === undefined) return void socket.end(BAD_REQUEST);
      socket.write(response, 'latin1');
      upgraded = true;
      buf = buf.subarray(end + 4);
    }
    try {
      pending = echoFrames(socket, buf);
    } catch (error) {
      process.stderr.write(`echo-backend: ${(error as Error).message}\n`);
      socket.destroy();
    }
  });
}

/** The 101 for a valid WebSocket upgrade request head, or undefined. */
function handshake(head: string): string | undefined {
  if (!head.startsWith('GET ')) return undefined;
  let key: string | undefined;
  let websocket = false;
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'sec-websocket-key') key = value;
    else if (name === 'upgrade') websocket = value.toLowerCase() === 'websocket';
  }
  if (key === undefined || !websocket) return undefined;
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`
  );
}

/** Echoes the complete frames in `buf` with one write; returns the incomplete tail, if any. */
function echoFrames(socket: Socket, buf: Buffer): Buffer | undefined {
  // An unmasked echo is 4 bytes shorter than its masked original, so the input length bounds the output.
  const out = Buffer.allocUnsafe(buf.length);
  let at = 0;
  let o = 0;
  let close = false;
  while (at < buf.length && !close) {
    const header = headerLength(buf, at);
    if (header === -1) break;
    if ((buf[at + 1]! & 0x80) === 0) throw new Error('client frame is not masked');
    const length = payloadLength(buf, at);
    if (buf.length - at - header < length) break;
    const first = buf[at]!;
    const opcode = first & 0x0f;
    const mask = at + header - 4;
    const payload = at + header;
    at = payload + length;
    if (opcode === OP_PONG) continue;
    const b0 = opcode === OP_PING ? 0x80 | OP_PONG : first;
    o += writeServerHeader(out, o, b0, length);
    for (let i = 0; i < length; i++) out[o + i] = buf[payload + i]! ^ buf[mask + (i & 3)]!;
    o += length;
    close = opcode === OP_CLOSE;
  }
  if (o > 0) socket.write(out.subarray(0, o));
  if (close) {
    socket.end();
    return undefined;
  }
  return at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
}

const server = createServer({ noDelay: true }, serve);
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('echo-backend: no TCP address');
  process.send?.({ port: address.port });
});
// The orchestrator owns this process: when it goes, so does the backend.
process.on('disconnect', () => process.exit(0));
