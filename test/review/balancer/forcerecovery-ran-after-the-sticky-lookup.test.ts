// Regression, found in review of the balancer: Apache runs force_recovery (Step 3) *before* find_session_route (Step 4) in proxy_balancer_pre_request.
// Here recovery only happens after the sticky lookup failed and candidates came back empty, so when every member is
// in error: (a) a noFailover session gets 503 instead of its recovered member; (b) a sticky session is moved to
// whatever the lbmethod picks (and told a new route) instead of staying on its recovered member.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEchoBackend } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { handshakeRequest, rawConnect, readHead, statusOf } from '../../helpers/net.ts';

async function headOf(port: number, cookie: string): Promise<string> {
  const socket = await rawConnect(port);
  socket.write(handshakeRequest('/ws/x', { Cookie: cookie }));
  const { head } = await readHead(socket);
  socket.destroy();
  return head;
}

test('(a) noFailover + every member in error: forcerecovery brings the sticky member back', async () => {
  const only = await startEchoBackend();
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: { sticky: { cookie: 'R', noFailover: true }, members: [{ url: only.origin, route: 'r0' }] },
    },
  });
  try {
    const balancer = gateway.tunnel.balancerRegistry.get('pool')!;
    balancer.failed(balancer.memberStates[0]!, 'earlier failure');
    const head = await headOf(gateway.port, 'R=.r0');
    assert.equal(statusOf(head), 101, head);
  } finally {
    await gateway.close(0);
    await only.close();
  }
});

test('(b) every member in error: a sticky session stays on its recovered member', async () => {
  const backends = await Promise.all([startEchoBackend(), startEchoBackend()]);
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: {
        sticky: { cookie: 'R', setCookie: true },
        members: backends.map((b, i) => ({ url: b.origin, route: `r${i}` })),
      },
    },
  });
  try {
    const balancer = gateway.tunnel.balancerRegistry.get('pool')!;
    for (const m of balancer.memberStates) balancer.failed(m, 'earlier failure');
    const head = await headOf(gateway.port, 'R=.r1');
    assert.equal(statusOf(head), 101, head);
    assert.equal(backends[1]!.requests.length, 1, `session moved: ${head}`);
  } finally {
    await gateway.close(0);
    await Promise.all(backends.map((b) => b.close()));
  }
});
