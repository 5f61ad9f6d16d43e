/** Why: the `wstunnel-balancer` target, the gateway with its rule on a 3-member `balancer://`, to price balancing against one target. */

import { startGateway } from '@wstunnel/cli';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (port === undefined || backendPort === undefined)
  throw new Error('usage: balancer-wstunnel.ts PORT BACKEND_PORT');

// Three members on the one echo backend (names must differ, URLs may repeat): only the balancer's work is added,
// not a backend's. Default method byrequests, no sticky sessions, no health checks; no access log, like --quiet.
await startGateway({
  host: '127.0.0.1',
  port,
  tunnel: {
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: { members: ['a', 'b', 'c'].map((name) => ({ name, url: `ws://127.0.0.1:${backendPort}` })) },
    },
  },
});
