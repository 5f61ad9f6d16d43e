/** Why: the `express` target, @wstunnel/express mounted in an Express 5 app, to price the adapter against the bare gateway. */

import { routeUpgrades, wstunnel } from '@wstunnel/express';
import express from 'express';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: express-wstunnel.ts PORT BACKEND_PORT');

const app = express();
app.use('/ws/', wstunnel(`ws://127.0.0.1:${backendPort}/`));
const server = app.listen(port, '127.0.0.1');
routeUpgrades(server, app);
