// Why: Fastify must tunnel exactly like the gateway, with the parent's hooks in front of the tunnel.
import { tunnelsOf, wstunnel } from '@wstunnel/fastify';
import Fastify from 'fastify';
import { conformanceSuite } from '../helpers/conformance.ts';

conformanceSuite('fastify', {
  auth: true,
  routeUpgrades: false,
  async start({ target, tunnel = {}, catchAll = false, auth = false }) {
    const fastify = Fastify();
    if (auth)
      fastify.addHook('onRequest', async (request, reply) => {
        const token = request.headers['x-auth'];
        if (token === undefined) return reply.code(401).send('no');
        if (token !== 'yes') return reply.code(403).send('forbidden');
      });
    await fastify.register(wstunnel, { prefix: '/ws', target, ...tunnel });
    if (catchAll) fastify.get('/*', (request, reply) => reply.type('text/plain').send(`app ${request.url}`));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const server = fastify.server;
    const { port } = server.address() as { port: number };
    const engine = tunnelsOf(fastify)[0]!;
    return {
      server,
      port,
      engine,
      drain: engine,
      url: (path) => `ws://127.0.0.1:${port}${path}`,
      async close() {
        await engine.close({ timeout: 0 });
        server.closeAllConnections();
        await fastify.close();
      },
    };
  },
});
