/** Why: the `hpm` target, Express 5 with http-proxy-middleware 4 (`ws: true`) as most Node apps proxy WebSockets today. */

import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined) throw new Error('usage: hpm.ts PORT BACKEND_PORT');

const proxy = createProxyMiddleware({
  target: `http://127.0.0.1:${backendPort}`,
  ws: true,
  pathFilter: '/ws/',
});
const app = express();
app.use(proxy);
const server = app.listen(port, '127.0.0.1');
// Subscribed explicitly: without it hpm only hooks 'upgrade' after a first plain HTTP request reaches it.
server.on('upgrade', proxy.upgrade);
