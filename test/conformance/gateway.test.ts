// Why: the bare gateway (core rules on a plain node:http server) is the reference the adapters must match.
import { createServer } from 'node:http';
import type { Rule } from '@wstunnel/core';
import { conformanceSuite } from '../helpers/conformance.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { closeServer, listen } from '../helpers/net.ts';

conformanceSuite('gateway', {
  auth: false,
  routeUpgrades: false,
  async start({ target, tunnel = {}, catchAll = false }) {
    const rules: Rule[] = [{ path: '/ws/', target, ...tunnel }];
    // The catch-all is a later rule to an HTTP backend: rule order is the gateway's route order.
    const app = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`app ${req.url}`);
    });
    if (catchAll) rules.push({ path: '/', target: `http://127.0.0.1:${await listen(app)}/` });
    const gateway = await startTestGateway({ rules });
    return {
      server: gateway.server,
      port: gateway.port,
      engine: gateway.tunnel,
      drain: gateway.tunnel,
      url: gateway.ws,
      async close() {
        await gateway.close(0);
        if (app.listening) await closeServer(app);
      },
    };
  },
});
