/** Why: `wstunnel` with no arguments must show the product working on a fresh machine: an echo backend, the gateway, one message through it. */

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { type Gateway, startGateway } from './gateway.ts';

/** The running demo: stop it with `close()`. */
export interface Demo {
  readonly gateway: Gateway;
  readonly backend: WebSocketServer;
  /** The WebSocket URL of the echo route through the gateway. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts an echo WebSocket backend on loopback and a gateway in front of it, then sends one message through. */
export async function startDemo(host: string, port: number, print: (line: string) => void): Promise<Demo> {
  const backend = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  backend.on('connection', (socket) =>
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })),
  );
  await once(backend, 'listening');
  const backendUrl = `ws://127.0.0.1:${(backend.address() as AddressInfo).port}/`;
  const gateway = await startGateway({
    host,
    port,
    tunnel: { rules: [{ path: '/echo/', target: backendUrl }] },
    log: (line) => print(`  log: ${line}`),
  }).catch((error: unknown) => {
    backend.close();
    throw error;
  });
  const url = `${gateway.url.replace('http', 'ws')}/echo/`;
  print('wstunnel demo: an echo WebSocket backend behind the gateway');
  print(`  backend:  ${backendUrl}`);
  print(`  gateway:  ${url}  (ProxyPass "/echo/" "${backendUrl}")`);
  const greeting = 'hello through wstunnel';
  const client = new WebSocket(url);
  await once(client, 'open');
  client.send(greeting);
  const [reply] = (await once(client, 'message')) as [Buffer];
  print(`  sent "${greeting}", received "${reply.toString()}": the tunnel works`);
  client.close(1000);
  await once(client, 'close');
  print('Gateway running. Open more WebSockets to the URL above; Ctrl-C stops it.');
  const close = async (): Promise<void> => {
    await gateway.close(1_000);
    for (const socket of backend.clients) socket.terminate();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  };
  return { gateway, backend, url, close };
}
