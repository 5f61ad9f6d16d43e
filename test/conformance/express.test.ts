// Why: Express must tunnel exactly like the gateway, with its routing and middleware in front of the tunnel.
import { routeUpgrades, wstunnel } from '@wstunnel/express';
import express from 'express';
import { conformanceSuite } from '../helpers/conformance.ts';
import { startAppSubject } from './app-subject.ts';

conformanceSuite('express', {
  auth: true,
  routeUpgrades: true,
  async start({ target, tunnel = {}, catchAll = false, auth = false, routed = true }) {
    const app = express();
    // Express's default error handler logs every 5xx to stderr except in its 'test' env.
    app.set('env', 'test');
    if (auth)
      app.use((req, res, next) => {
        const token = req.headers['x-auth'];
        if (token === undefined) res.status(401).send('no');
        else if (token !== 'yes') res.status(403).send('forbidden');
        else next();
      });
    const route = wstunnel(target, tunnel);
    app.use('/ws/', route);
    if (catchAll) app.get('/{*path}', (req, res) => res.type('text/plain').send(`app ${req.originalUrl}`));
    return startAppSubject(app, route, routed ? (server) => routeUpgrades(server, app) : undefined);
  },
});
