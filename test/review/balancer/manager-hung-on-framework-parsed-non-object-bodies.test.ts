// Regression, found in review of the balancer: in balancer/manager.ts as mounted by @wstunnel/fastify (Fastify parses application/json itself):
//  (a) a body Fastify parsed to a non-object (`null`, `1`, `"x"`) falls through to readJson() on a stream that was
//      already consumed: 'end' never fires, the reply is hijacked, the request hangs until the client gives up.
//  (b) hostile input that makes the member constructor throw a non-WstunnelConfigError (`tls: null` on a wss://
//      member: `const {ca,...} = null` in target.ts) escapes apply(); after reply.hijack() nobody answers: hang.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { balancerManager, wstunnel } from '@wstunnel/fastify';
import Fastify from 'fastify';

function post(port: number, body: string): Promise<number | 'hung'> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/balancer-manager',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.setTimeout(1_500, () => {
      req.destroy();
      resolve('hung');
    });
    req.on('error', (e) => (String(e).includes('socket hang up') ? resolve('hung') : reject(e)));
    req.end(body);
  });
}

for (const [name, body] of [
  ['(a) JSON null', 'null'],
  ['(a) JSON number', '1'],
  [
    '(b) add with tls: null',
    JSON.stringify({ balancer: 'pool', add: { url: 'wss://127.0.0.1:1', tls: null } }),
  ],
] as const) {
  test(`fastify manager answers ${name}`, async () => {
    const fastify = Fastify();
    await fastify.register(wstunnel, {
      prefix: '/ws',
      target: 'balancer://pool/',
      balancers: { pool: { members: [{ url: 'ws://127.0.0.1:1' }] } },
    });
    fastify.route({ method: ['GET', 'POST'], url: '/balancer-manager', handler: balancerManager(fastify) });
    await fastify.listen({ host: '127.0.0.1', port: 0 });
    const port = (fastify.server.address() as { port: number }).port;
    try {
      const status = await post(port, body);
      assert.notEqual(status, 'hung', 'the manager never answered');
      assert.equal(status, 400);
    } finally {
      fastify.server.closeAllConnections();
      await fastify.close();
    }
  });
}
