// Why: under many serial and parallel upgrades every echo must be right and the live-tunnel count must return to zero.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { type EchoBackend, startEchoBackend } from '../helpers/backends.ts';
import { openClient, roundTrip, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('load', () => {
  let backend: EchoBackend;
  let gateway: TestGateway;
  let closes = 0;

  before(async () => {
    backend = await startEchoBackend();
    gateway = await startTestGateway({ rules: [{ path: '/ws/', target: `${backend.origin}/` }] });
    gateway.tunnel.on('close', () => closes++);
  });

  after(async () => {
    await gateway.close(0);
    await backend.close();
  });

  /** Opens one tunnel, checks one echo, closes it and waits until both ends are gone. */
  async function oneTunnel(n: number): Promise<void> {
    const client = await openClient(gateway.ws(`/ws/client-${n}`));
    const message = `message ${n} ${'x'.repeat(n % 97)}`;
    const { data } = await roundTrip(client, message);
    assert.equal(data.toString(), message);
    client.close(1000);
    await once(client, 'close');
  }

  /** Resolves once the gateway has no live tunnel (close events are asynchronous to the clients' close). */
  async function drained(expectedCloses: number): Promise<void> {
    for (let i = 0; i < 1_000 && (gateway.tunnel.size > 0 || closes < expectedCloses); i++) {
      await once(gateway.tunnel, 'close');
    }
    assert.equal(gateway.tunnel.size, 0);
    assert.equal(closes, expectedCloses);
  }

  test('250 serial upgrades each echo correctly, and the live count returns to 0', async () => {
    closes = 0;
    for (let n = 0; n < 250; n++) await oneTunnel(n);
    await drained(250);
  });

  test('250 parallel upgrades each echo correctly, and the live count returns to 0', async () => {
    closes = 0;
    await Promise.all(Array.from({ length: 250 }, (_, n) => oneTunnel(n)));
    await drained(250);
    // ws forgets a connection on its own 'close', a moment after the socket closed.
    for (let i = 0; i < 250 && backend.wss.clients.size > 0; i++)
      await once([...backend.wss.clients][0]!, 'close');
    assert.equal(backend.wss.clients.size, 0, 'backend connections left open');
  });
});
