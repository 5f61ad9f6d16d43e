// Why: Express must tunnel exactly like the gateway, with its routing and middleware in front of the tunnel.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { routeUpgrades, wstunnel } from '@wstunnel/express';
import express from 'express';
import { conformanceSuite } from '../helpers/conformance.ts';
import { closeServer } from '../helpers/net.ts';

conformanceSuite('express', {
  auth: true,
  async start({ target, tunnel = {}, catchAll = false, auth = false }) {
    const app = express();
    if (auth) app.use((req, res, next) => (req.headers['x-auth'] ? next() : res.status(401).send('no')));
    const route = wstunnel(target, tunnel);
    app.use('/ws/', route);
    if (catchAll) app.get('/{*path}', (req, res) => res.type('text/plain').send(`app ${req.originalUrl}`));
    const server: Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const stop = routeUpgrades(server, app);
    const { port } = server.address() as { port: number };
    return {
      server,
      port,
      engine: route.tunnel,
      url: (path) => `ws://127.0.0.1:${port}${path}`,
      async close() {
        stop();
        await route.close({ timeout: 0 });
        await closeServer(server);
      },
    };
  },
});
