// Regression, found in review of the balancer: sticky noFailover is ignored when the sticky member fails *during* the handshake (connect refused,
// reset, failonstatus). Apache (mod_proxy_balancer find_session_route + sticky_force) answers 503 on every
// retry of the loop; here the retry skips the sticky check (`tried.size === 0`) and the lbmethod picks another member.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEchoBackend } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { deadPort, handshakeRequest, rawConnect, readHead, statusOf } from '../../helpers/net.ts';

test('noFailover: sticky member that refuses the connection -> 503, never another member', async () => {
  const live = await startEchoBackend();
  const down = await deadPort();
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: {
        sticky: { cookie: 'R', noFailover: true },
        members: [
          { url: `ws://127.0.0.1:${down}`, route: 'dead' },
          { url: live.origin, route: 'live' },
        ],
      },
    },
  });
  try {
    const socket = await rawConnect(gateway.port);
    socket.write(handshakeRequest('/ws/x', { Cookie: 'R=.dead' }));
    const { head } = await readHead(socket);
    socket.destroy();
    assert.equal(
      live.requests.length,
      0,
      'the session was failed over to the other member despite noFailover',
    );
    assert.equal(statusOf(head), 503, head);
  } finally {
    await gateway.close(0);
    await live.close();
  }
});
