// Why: the backend the example's site.conf points at: one port serving pages and WebSocket echo, like backend:9080.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`backend page ${req.url}\n`);
});
const wss = new WebSocketServer({ server });
wss.on('connection', (socket, req) => {
  socket.send(`connected to ${req.url}`);
  socket.on('message', (data, binary) => socket.send(data, { binary }));
});
server.listen(Number(process.env.PORT ?? 9080), '127.0.0.1', () => {
  console.log(`backend on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.once('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  wss.close();
  server.closeAllConnections();
  server.close();
});
