// Regression, found in review of the balancer: balancerManager over several engines (Express/Koa `balancerManager(a, b)`, Fastify `tunnelsOf`) lists a
// balancer once per engine under the same name, but POST applies to the first match only: draining a member via the
// manager leaves the other engine still sending it new sessions, and the answer (200 + page) hides it.
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { test } from 'node:test';
import { balancerManager, createWstunnel } from '@wstunnel/core';
import { listen } from '../../helpers/net.ts';

test('a POST to a balancer name shared by two engines changes both, or is refused as ambiguous', async () => {
  const options = {
    rules: [{ path: '/ws/', target: 'balancer://chat/' }],
    balancers: {
      chat: {
        members: [
          { url: 'ws://127.0.0.1:1', name: 'a' },
          { url: 'ws://127.0.0.1:2', name: 'b' },
        ],
      },
    },
  };
  const one = createWstunnel(options);
  const two = createWstunnel(options);
  const manage = balancerManager(() => [one, two]);
  const server = createServer((req, res) => manage(req, res));
  const port = await listen(server);
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ balancer: 'chat', member: 'a', set: { status: { draining: true } } }));
    });
    const drained = [one, two].map((t) => t.balancers.get('chat')!.snapshot().members[0]!.draining);
    assert.ok(
      status !== 200 || drained.every(Boolean),
      `answered ${status}, draining per engine: ${drained}`,
    );
  } finally {
    server.close();
  }
});
