/** Why: the `fastify-http-proxy` target, Fastify 5 with @fastify/http-proxy (`websocket: true`), Fastify's own WebSocket proxy. */

import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: fastify-http-proxy.ts PORT BACKEND_PORT');

const fastify = Fastify();
// The prefix is stripped when forwarding: /ws/echo reaches the backend as /echo, which it accepts like any path.
await fastify.register(fastifyHttpProxy, {
  upstream: `http://127.0.0.1:${backendPort}`,
  prefix: '/ws',
  websocket: true,
});
await fastify.listen({ port, host: '127.0.0.1' });
