/** Why: tests need real backends: a `ws` echo server that records handshakes, and raw `net` servers that answer exactly the bytes a test scripts. */

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { type ServerOptions, WebSocketServer } from 'ws';
import { closeServer, listen } from './net.ts';

/** A running `ws` echo backend. */
export interface EchoBackend {
  readonly wss: WebSocketServer;
  readonly port: number;
  /** `ws://127.0.0.1:port` (no trailing slash). */
  readonly origin: string;
  /** Upgrade requests the backend received, in order. */
  readonly requests: IncomingMessage[];
  close(): Promise<void>;
}

/** Starts a `ws` server that echoes every message (text stays text, binary stays binary). */
export async function startEchoBackend(options: ServerOptions = {}): Promise<EchoBackend> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  const requests: IncomingMessage[] = [];
  wss.on('connection', (socket, req) => {
    requests.push(req);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await once(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const port = address.port;
  return {
    wss,
    port,
    origin: `ws://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const client of wss.clients) client.terminate();
      const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
      // Plain requests proxied to this backend leave keep-alive connections that would hold close() open.
      (wss as unknown as { _server?: { closeAllConnections(): void } })._server?.closeAllConnections();
      await closed;
    },
  };
}

/** A raw TCP backend: every connection's request head is recorded and handed to the script. */
export interface RawBackend {
  readonly server: Server;
  readonly port: number;
  readonly origin: string;
  /** Request heads received (text up to the blank line), in order. */
  readonly heads: string[];
  /** Bytes received on each connection after its head, in order of connections. */
  readonly bodies: Buffer[][];
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** What a raw backend does with a connection once the request head has arrived. */
export type RawScript = (socket: Socket, head: string, rest: Buffer) => void;

/** Starts a raw TCP backend that reads one request head per connection and runs `script`. */
export async function startRawBackend(script: RawScript): Promise<RawBackend> {
  const heads: string[] = [];
  const bodies: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    backend.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const received: Buffer[] = [];
    bodies.push(received);
    let buffered = Buffer.alloc(0);
    let headDone = false;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (headDone) {
        received.push(chunk);
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      headDone = true;
      const head = buffered.subarray(0, end).toString('latin1');
      heads.push(head);
      const rest = buffered.subarray(end + 4);
      if (rest.length > 0) received.push(rest);
      script(socket, head, rest);
    });
  });
  const port = await listen(server);
  const backend: RawBackend = {
    server,
    port,
    origin: `ws://127.0.0.1:${port}`,
    heads,
    bodies,
    connections: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return closeServer(server);
    },
  };
  return backend;
}

/** The Sec-WebSocket-Accept for the RFC 6455 sample key used by handshakeRequest(). */
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A correct 101 for a WebSocket handshake, with extra header lines. */
export function switching(extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n${extra}\r\n`;
}

/** A correct 101 answering the Sec-WebSocket-Key of `requestHead` (for real clients, whose keys are random). */
export function switchingFor(requestHead: string, extra = ''): string {
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(requestHead)?.[1] ?? '';
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return switching(extra).replace(SAMPLE_ACCEPT, accept);
}

/** Header lines of a raw request head as [lower-case name, value] pairs, in order. */
export function headerPairs(head: string): [string, string][] {
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as [string, string];
    });
}
