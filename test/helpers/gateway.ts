/** Why: most tests need "a gateway in front of this backend"; this starts one on 127.0.0.1:0 and tears it down. */

import { once } from 'node:events';
import { type Gateway, startGateway } from '@wstunnel/cli';
import type { WstunnelOptions } from '@wstunnel/core';
import { type ClientOptions, WebSocket } from 'ws';

/** A gateway under test, with helpers for URLs. */
export interface TestGateway extends Gateway {
  readonly port: number;
  /** `ws://127.0.0.1:port` + path. */
  ws(path: string): string;
  /** Access-log lines written so far. */
  readonly log: string[];
}

/** Starts the real gateway (the one the CLI runs) on a free loopback port. */
export async function startTestGateway(tunnel: WstunnelOptions): Promise<TestGateway> {
  const log: string[] = [];
  const gateway = await startGateway({ host: '127.0.0.1', port: 0, tunnel, log: (line) => log.push(line) });
  const port = Number(new URL(gateway.url).port);
  return Object.assign(gateway, { port, log, ws: (path: string) => `ws://127.0.0.1:${port}${path}` });
}

/** Opens a `ws` client and resolves once it is open; rejects with the handshake error otherwise. */
export function openClient(
  url: string,
  protocols?: string | string[],
  options: ClientOptions = {},
): Promise<WebSocket> {
  const client = new WebSocket(url, protocols, options);
  client.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      client.off('open', onOpen);
      client.off('unexpected-response', onResponse);
      client.off('error', onError);
      if (error === undefined) resolve(client);
      else reject(error);
    };
    const onOpen = (): void => settle();
    const onResponse = (_req: unknown, res: { statusCode?: number }): void => {
      settle(new Error(`unexpected response ${res.statusCode}`));
      client.terminate();
    };
    const onError = (error: Error): void => settle(error);
    client.once('open', onOpen);
    client.once('unexpected-response', onResponse);
    client.once('error', onError);
  });
}

/** Sends `data` and resolves with the next message. */
export async function roundTrip(
  client: WebSocket,
  data: string | Buffer,
): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(client, 'message');
  client.send(data);
  const [message, isBinary] = (await reply) as [Buffer, boolean];
  return { data: message, isBinary };
}

/** Resolves with the close code and reason the client saw. */
export async function closed(client: WebSocket): Promise<{ code: number; reason: string }> {
  if (client.readyState === WebSocket.CLOSED) throw new Error('already closed');
  const [code, reason] = (await once(client, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}
