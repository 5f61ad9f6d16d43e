// Guard: busy counters, sizes and slots come back to zero across failover paths, a client leaving
// mid-failover, and a drain deadline hitting the second attempt; the client sees exactly one answer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { startEchoBackend, startRawBackend } from '../../helpers/backends.ts';
import { startTestGateway } from '../../helpers/gateway.ts';
import { deadPort, handshakeRequest, rawConnect, readAll } from '../../helpers/net.ts';

test('no busy/slot leak across failover, client leaving and drain abort', async () => {
  const live = await startEchoBackend();
  const reset = await startRawBackend((s) => s.resetAndDestroy());
  const status = await startRawBackend((s) => s.end('HTTP/1.1 503 x\r\nContent-Length: 0\r\n\r\n'));
  const silent = await startRawBackend(() => undefined);
  const gateway = await startTestGateway({
    rules: [
      { path: '/a/', target: 'balancer://a/' },
      { path: '/b/', target: 'balancer://b/' },
    ],
    balancers: {
      a: {
        failOnStatus: [503],
        members: [
          { url: `ws://127.0.0.1:${await deadPort()}`, retry: 0 },
          { url: reset.origin, retry: 0 },
          { url: status.origin, retry: 0 },
          { url: live.origin, retry: 0, max: 2 },
        ],
      },
      b: {
        members: [
          { url: `ws://127.0.0.1:${await deadPort()}`, retry: 0 },
          { url: silent.origin, retry: 0 },
        ],
      },
    },
  });
  try {
    for (let i = 0; i < 5; i++) {
      const c = await rawConnect(gateway.port);
      const all = readAll(c);
      c.write(handshakeRequest('/a/x'));
      c.write(Buffer.from([0x88, 0x80, 1, 2, 3, 4])); // an early masked close frame, held then forwarded once
      const text = (await all).toString('latin1');
      assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, text);
    }
    // Client leaves while attempt 2 (silent) is pending.
    const leaving = await rawConnect(gateway.port);
    leaving.write(handshakeRequest('/b/x'));
    await once(silent.server, 'connection');
    leaving.destroy();
    await once(gateway.tunnel, 'failed');
    // Drain deadline during attempt 2.
    const late = await rawConnect(gateway.port);
    const answer = readAll(late);
    late.write(handshakeRequest('/b/x'));
    await once(silent.server, 'connection');
    await gateway.tunnel.close({ timeout: 50 });
    assert.match((await answer).toString('latin1'), /^HTTP\/1\.1 503/);
    assert.equal(gateway.tunnel.size, 0);
    for (const name of ['a', 'b'])
      for (const m of gateway.tunnel.balancers.get(name)!.snapshot().members)
        assert.equal(m.busy, 0, `${name} ${m.name} busy`);
  } finally {
    await gateway.close(0);
    await Promise.all([live.close(), reset.close(), status.close(), silent.close()]);
  }
});
