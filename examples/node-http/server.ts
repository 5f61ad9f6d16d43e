// Why: the smallest real use of @wstunnel/core: ProxyPass "/ws2/" "ws://BACKEND/" on a plain node:http server.
// Run: pnpm --dir examples/node-http start   (PORT=8080 by default; BACKEND=ws://host:port, else an embedded echo)
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWstunnel } from '@wstunnel/core';
import { WebSocketServer } from 'ws';

async function embeddedEcho(): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (socket) =>
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })),
  );
  await once(wss, 'listening');
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

const backend = process.env['BACKEND'] ?? (await embeddedEcho());
const tunnel = createWstunnel({ rules: [{ path: '/ws2/', target: `${backend.replace(/\/$/, '')}/` }] });
tunnel.on('close', (info, stats) =>
  console.log(`${info.url}: ${stats.bytesFromClient} in, ${stats.bytesToClient} out, ${stats.reason}`),
);

const server = createServer((req, res) => {
  if (!tunnel.handleRequest(req, res))
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
});
tunnel.attach(server);
server.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1');
await once(server, 'listening');
console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws2/ -> ${backend}/`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    server.close();
    await tunnel.close({ timeout: 2_000 });
    process.exit(0);
  });
}
