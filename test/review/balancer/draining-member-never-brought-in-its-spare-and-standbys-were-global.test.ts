// Regression, found in review of the balancer: in candidates.ts vs Apache 2.4.34+ ap_proxy_balancer_get_best_worker (proxy_util.c):
//  (a) a draining member that is neither spare nor standby counts as unusable, so a hot spare of its lbset
//      replaces it. Here it is skipped without counting: draining the only regular member leaves its spare idle and
//      every new session gets 503.
//  (b) hot standbys are per lbset ("only used if no other viable workers or spares are available in the balancer
//      set"): lbset 0's standby is used before lbset 1's members. Here all lbsets are exhausted first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidates, type MemberFlags } from '../../../packages/core/src/balancer/candidates.ts';
import { startEchoBackend } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { handshakeRequest, rawConnect, readHead, statusOf } from '../../helpers/net.ts';

const m = (name: string, lbset: number, flags: MemberFlags = {}) => ({ name, lbset, flags, errorUntil: 0 });
const names = (list: readonly { name: string }[]) => list.map((x) => x.name);

test('(a) unit: a draining regular member is replaced by its lbset hot spare', () => {
  assert.deepEqual(names(candidates([m('a', 0, { draining: true }), m('s', 0, { spare: true })], 0)), ['s']);
});

test('(a) e2e: draining the only regular member with a hot spare must not answer 503', async () => {
  const [main, spare] = await Promise.all([startEchoBackend(), startEchoBackend()]);
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: {
      pool: {
        members: [
          { url: main.origin, name: 'main' },
          { url: spare.origin, name: 'spare', status: { spare: true } },
        ],
      },
    },
  });
  try {
    gateway.tunnel.balancers.get('pool')!.set('main', { status: { draining: true } });
    const socket = await rawConnect(gateway.port);
    socket.write(handshakeRequest('/ws/x'));
    const { head } = await readHead(socket);
    socket.destroy();
    assert.equal(statusOf(head), 101, head);
  } finally {
    await gateway.close(0);
    await Promise.all([main.close(), spare.close()]);
  }
});

test('(b) unit: lbset 0 hot standby is used before lbset 1 members', () => {
  const members = [m('a', 0, { disabled: true }), m('h0', 0, { standby: true }), m('b', 1)];
  assert.deepEqual(names(candidates(members, 0)), ['h0']);
});
