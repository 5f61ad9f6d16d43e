// Guard: 200 KiB sent right behind the handshake (the client gets paused past 64 KiB) survive a
// failover and reach the second member exactly once, in order; the first member never sees them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRawBackend, switching } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { handshakeRequest, rawConnect, readHead } from '../../helpers/net.ts';

test('held client bytes cross a failover exactly once', async () => {
  const payload = Buffer.alloc(200 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
  const slowReset = await startRawBackend((s) => setTimeout(() => s.resetAndDestroy(), 150));
  let got = Buffer.alloc(0);
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const accept = await startRawBackend((s, _h, rest) => {
    got = Buffer.concat([got, rest]);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= payload.length) done();
    });
    s.write(switching());
    if (got.length >= payload.length) done();
  });
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://p/' }],
    balancers: { p: { members: [{ url: slowReset.origin }, { url: accept.origin }] } },
  });
  try {
    const c = await rawConnect(gateway.port);
    c.write(Buffer.concat([Buffer.from(handshakeRequest('/ws/x')), payload]));
    const { head } = await readHead(c);
    assert.match(head, /^HTTP\/1\.1 101/);
    await all;
    assert.equal(got.length, payload.length);
    assert.ok(got.equals(payload));
    assert.equal(slowReset.bodies[0]!.length, 0, 'the failed member saw client bytes');
    c.destroy();
  } finally {
    await gateway.close(0);
    await Promise.all([slowReset.close(), accept.close()]);
  }
});
