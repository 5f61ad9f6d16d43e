/** Why: tests speak real sockets on 127.0.0.1:0 and wait on events, never on sleeps. */

import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';

/** Listens on 127.0.0.1 with a free port and returns the port. */
export async function listen(server: NetServer | HttpServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Closes a server, destroying its remaining connections. */
export async function closeServer(server: NetServer | HttpServer): Promise<void> {
  (server as HttpServer).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A loopback port that was free a moment ago and has nothing listening now (connecting to it is refused). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

/** Opens a raw TCP connection to 127.0.0.1:port. */
export async function rawConnect(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/**
 * Resolves with everything the socket receives until the peer ends or closes it (or the socket errors). Like a real
 * client, it then ends its own side too, so a server doing a lingering close can finish at once.
 */
export function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  return new Promise((resolve) => {
    const done = (): void => {
      if (!socket.destroyed && !socket.writableEnded) socket.end();
      resolve(Buffer.concat(chunks));
    };
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** Sends `request` on a new connection and resolves with the whole response, read until the server closes. */
export async function rawExchange(port: number, request: string | Buffer): Promise<string> {
  const socket = await rawConnect(port);
  const all = readAll(socket);
  socket.write(request);
  const response = (await all).toString('latin1');
  socket.destroy();
  return response;
}

/** Reads from `socket` until a blank line ends an HTTP head; resolves with the head text and the bytes after it. */
export function readHead(socket: Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      cleanup();
      resolve({ head: buffered.subarray(0, end).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`connection ended before a head: ${JSON.stringify(buffered.toString('latin1'))}`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
  });
}

/** Resolves with exactly `length` more bytes from `socket`, starting with `initial`. */
export function readBytes(
  socket: Socket,
  length: number,
  initial: Buffer = Buffer.alloc(0),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = initial;
    const check = (): boolean => {
      if (buffered.length < length) return false;
      socket.off('data', onData);
      socket.off('close', onClose);
      if (buffered.length > length) socket.unshift(buffered.subarray(length));
      resolve(buffered.subarray(0, length));
      return true;
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      check();
    };
    const onClose = (): void => reject(new Error(`closed after ${buffered.length} of ${length} bytes`));
    if (check()) return;
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** The status code of a raw HTTP response text. */
export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? Number.NaN);
}

/** A WebSocket handshake request with a fixed key (RFC 6455 4.1 sample). */
export function handshakeRequest(path: string, extraHeaders: Record<string, string> = {}, port = 80): string {
  const headers = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...extraHeaders,
  };
  let text = `GET ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) if (value !== '') text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}
