/**
 * Why: the `node-pipe` target, the least a Node tunnel can do (forward the head, then pipe() both ways, no checks at all),
 * as a floor: what is left of any Node proxy's cost once routing, validation and error handling are taken out.
 */

import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined) throw new Error('usage: node-pipe.ts PORT BACKEND_PORT');

/** The request head as the client sent it (header names and order kept). */
function requestHead(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  const backend = connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
  backend.write(requestHead(req), 'latin1');
  if (head.length > 0) backend.write(head);
  socket.pipe(backend);
  backend.pipe(socket);
  socket.on('error', () => backend.destroy()).on('close', () => backend.destroy());
  backend.on('error', () => socket.destroy()).on('close', () => socket.destroy());
});
server.listen(port, '127.0.0.1');
