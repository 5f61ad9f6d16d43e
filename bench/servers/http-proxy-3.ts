/** Why: the `http-proxy-3` target, a plain node:http server with http-proxy-3 (the maintained node-http-proxy fork) on 'upgrade'. */

import { createServer } from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: http-proxy-3.ts PORT BACKEND_PORT');

const proxy = createProxyServer({ target: `http://127.0.0.1:${backendPort}`, ws: true });
// Without a listener a failed tunnel (backend refused, peer reset) is thrown and kills the process; end only that one.
proxy.on('error', (_error, _req, socketOrResponse) => socketOrResponse.destroy());

const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  if (req.url?.startsWith('/ws/')) proxy.ws(req, socket, head);
  else socket.destroy();
});
server.listen(port, '127.0.0.1');
