// Why: the upgrade= values end to end through the gateway: a token list, ANY (any protocol, the client's token in the
// 101) and NONE (any upgrade request becomes a WebSocket one towards the backend), as mod_proxy_wstunnel defines them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { headerPairs, switching } from '../helpers/backends.ts';
import { cleanupAfterEach, rawGateway } from '../helpers/cleanup.ts';
import { handshakeRequest, rawConnect, readHead } from '../helpers/net.ts';

const defer = cleanupAfterEach();

/** A backend that switches to whatever protocol it was asked for, then echoes. */
function switchToAsked(socket: import('node:net').Socket, head: string): void {
  const asked = headerPairs(head).find(([name]) => name === 'upgrade')?.[1] ?? 'none';
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${asked}\r\nConnection: Upgrade\r\n\r\n`);
  socket.pipe(socket);
}

async function upgradeThrough(
  port: number,
  upgrade: string | undefined,
): Promise<{ head: string; echo: string }> {
  const client = await rawConnect(port);
  const request = handshakeRequest('/ws/x', upgrade === undefined ? {} : { Upgrade: upgrade });
  client.write(upgrade === undefined ? request.replace(/\r\nUpgrade: websocket/i, '') : request);
  const { head } = await readHead(client);
  if (!head.startsWith('HTTP/1.1 101')) {
    client.destroy();
    return { head, echo: '' };
  }
  client.write('ping');
  const echo = await new Promise<string>((resolve) => client.once('data', (chunk) => resolve(String(chunk))));
  client.destroy();
  return { head, echo };
}

describe('upgrade= through the gateway', () => {
  test('a token list tunnels each listed protocol and names it in the 101', async () => {
    const { gateway, backend } = await rawGateway(defer, switchToAsked, { upgrade: ['foo', 'websocket'] });
    const { head, echo } = await upgradeThrough(gateway.port, 'foo');
    assert.match(head, /^HTTP\/1\.1 101 .*\r\nUpgrade: foo$/s);
    assert.equal(echo, 'ping');
    assert.match(backend.heads[0]!, /\r\nUpgrade: foo(\r\n|$)/);
  });

  test('ANY tunnels the protocol the client asks for, h2c included (why it is unsafe)', async () => {
    const { gateway, backend } = await rawGateway(defer, switchToAsked, { upgrade: 'ANY' });
    const { head, echo } = await upgradeThrough(gateway.port, 'h2c');
    assert.match(head, /\r\nUpgrade: h2c$/);
    assert.equal(echo, 'ping');
    assert.match(backend.heads[0]!, /\r\nUpgrade: h2c(\r\n|$)/);
  });

  test('NONE sends Upgrade: websocket to the backend whatever protocol the client named', async () => {
    const { gateway, backend } = await rawGateway(
      defer,
      (socket) => {
        socket.write(switching());
        socket.pipe(socket);
      },
      { upgrade: 'NONE' },
    );
    const named = await upgradeThrough(gateway.port, 'foo');
    assert.match(named.head, /^HTTP\/1\.1 101 /);
    assert.equal(named.echo, 'ping');
    const other = await upgradeThrough(gateway.port, 'h2c');
    assert.match(other.head, /^HTTP\/1\.1 101 /);
    assert.deepEqual(
      backend.heads.map((head) => headerPairs(head).find(([name]) => name === 'upgrade')?.[1]),
      ['websocket', 'websocket'],
    );
  });

  test('the default websocket token does not tunnel another protocol: it is proxied as plain HTTP', async () => {
    const { gateway, backend } = await rawGateway(defer, (socket, head) => {
      // A plain request reaches the backend without Upgrade; answer it plainly.
      assert.doesNotMatch(head, /\r\nupgrade:/i);
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain');
    });
    const { head } = await upgradeThrough(gateway.port, 'foo');
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.equal(backend.heads.length, 1);
  });
});
