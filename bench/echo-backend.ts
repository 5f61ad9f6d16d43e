/** Why: the backend behind every target is a raw `net` WebSocket echo, far cheaper than `ws`, so it steals little CPU from the proxy under test. */

import { createServer, type Socket } from 'node:net';
import { FrameEcho } from './echo-frames.ts';
import { acceptFor } from './ws-wire.ts';

/** Request heads larger than this are refused. */
const MAX_HEAD_BYTES = 16 * 1024;

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** Answers the handshake, then echoes frames (echo-frames.ts). */
function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let head: Buffer | undefined;
  let echo: FrameEcho | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buf = chunk;
    if (echo === undefined) {
      buf = head === undefined ? chunk : Buffer.concat([head, chunk]);
      head = undefined;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_HEAD_BYTES) socket.end(BAD_REQUEST);
        else head = buf;
        return;
      }
      const response = handshake(buf.toString('latin1', 0, end));
      if (response === undefined) return void socket.end(BAD_REQUEST);
      socket.write(response, 'latin1');
      echo = new FrameEcho();
      buf = buf.subarray(end + 4);
    }
    try {
      echo.feed(socket, buf);
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

/** Listens on a free loopback port and resolves with it. */
function listen(): Promise<number> {
  const server = createServer({ noDelay: true }, serve);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('echo-backend: no TCP address');
      resolve(address.port);
    });
  });
}

// One port per target (argv[2] of them): connections closed by one target's phases leave TIME_WAIT entries that
// hold ephemeral ports per destination, and 10 000-tunnel phases late in a run must not run out of them.
const ports = await Promise.all(Array.from({ length: Math.max(1, Number(process.argv[2] ?? 1)) }, listen));
process.send?.({ ports });
// The orchestrator owns this process: when it goes, so does the backend.
process.on('disconnect', () => process.exit(0));
