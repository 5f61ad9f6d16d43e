// Why: the framework examples' recipes need "backend.example.com:9080" from the mod_proxy_wstunnel documentation: one port that answers
// plain HTTP and WebSocket. Without BACKEND the example starts this one, so it runs with nothing else around.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** Where the recipes send requests: `ws` for upgrades, `http` for plain requests (same host and port). */
export interface Backend {
  readonly ws: string;
  readonly http: string;
  /** Stops the embedded backend; a no-op for an external one. */
  close(): Promise<void>;
}

/** The backend named by `BACKEND` (`ws://host:port`), or an embedded one on a free loopback port. */
export async function backendFromEnv(value: string | undefined): Promise<Backend> {
  if (value === undefined || value === '') return startEmbeddedBackend();
  const ws = value.replace(/\/+$/, '');
  if (!/^wss?:\/\//.test(ws)) throw new Error(`BACKEND must be a ws:// or wss:// URL, not ${value}`);
  return { ws, http: ws.replace(/^ws/, 'http'), close: async () => undefined };
}

/**
 * Plain requests get `{"backend":"http","method":…,"path":…}`. A WebSocket first receives `{"path":…,"protocol":…}`
 * (what the backend saw: the path after mapping, the subprotocol it chose), then every message back.
 */
export async function startEmbeddedBackend(): Promise<Backend> {
  const server = createServer((req, res) => {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ backend: 'http', method: req.method, path: req.url }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    socket.send(JSON.stringify({ path: req.url, protocol: socket.protocol, user: req.headers['x-user'] }));
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    ws: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
