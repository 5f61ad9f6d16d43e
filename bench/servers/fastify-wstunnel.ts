/** Why: the `fastify` target, the @wstunnel/fastify plugin in a Fastify 5 app, to price the adapter against the bare gateway. */

import { wstunnel } from '@wstunnel/fastify';
import Fastify from 'fastify';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: fastify-wstunnel.ts PORT BACKEND_PORT');

const fastify = Fastify();
await fastify.register(wstunnel, { prefix: '/ws', target: `ws://127.0.0.1:${backendPort}/` });
await fastify.listen({ port, host: '127.0.0.1' });
