// Why: after the backend's 101 the tunnel moves bytes, so every WebSocket feature must arrive unchanged end to end.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { type EchoBackend, startEchoBackend } from '../helpers/backends.ts';
import { closed, openClient, roundTrip, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('byte transparency through the gateway', () => {
  let backend: EchoBackend;
  let deflateBackend: EchoBackend;
  let gateway: TestGateway;

  before(async () => {
    backend = await startEchoBackend({
      handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
    });
    deflateBackend = await startEchoBackend({ perMessageDeflate: { threshold: 0 } });
    backend.wss.on('connection', (socket, req) => {
      if (req.url === '/close-4401') socket.close(4401, 'unauthorised: token expired');
      if (req.url === '/drop') socket.terminate();
      if (req.url === '/fragments') {
        socket.send('frag-', { fin: false });
        socket.send('ment-', { fin: false });
        socket.send('ed', { fin: true });
      }
    });
    gateway = await startTestGateway({
      rules: [
        { path: '/deflate/', target: `${deflateBackend.origin}/` },
        { path: '/ws/', target: `${backend.origin}/` },
      ],
    });
  });

  after(async () => {
    await gateway.close(0);
    await backend.close();
    await deflateBackend.close();
  });

  test('text stays text and binary stays binary', async () => {
    const client = await openClient(gateway.ws('/ws/echo'));
    const text = await roundTrip(client, 'héllo wörld');
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString(), 'héllo wörld');
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const binary = await roundTrip(client, bytes);
    assert.equal(binary.isBinary, true);
    assert.deepEqual(binary.data, bytes);
    client.close();
    await closed(client);
  });

  test('payloads on both sides of the 16-bit length boundary (65 528 and 65 529 bytes) arrive intact', async () => {
    const client = await openClient(gateway.ws('/ws/big'));
    for (const size of [65_528, 65_529, 65_535, 65_536, 1_048_576]) {
      const payload = Buffer.alloc(size, size % 251);
      payload.writeUInt32BE(size, 0);
      const { data } = await roundTrip(client, payload);
      assert.equal(data.length, size);
      assert.ok(data.equals(payload), `payload of ${size} bytes changed`);
    }
    client.close();
    await closed(client);
  });

  test('a message fragmented by the backend reaches the client as one message', async () => {
    const client = new WebSocket(gateway.ws('/ws/fragments'));
    const [message] = (await once(client, 'message')) as [Buffer];
    assert.equal(message.toString(), 'frag-ment-ed');
    client.close();
    await closed(client);
  });

  test('a fragmented client message is reassembled by the backend unchanged', async () => {
    const client = await openClient(gateway.ws('/ws/client-fragments'));
    const reply = once(client, 'message');
    client.send('one ', { fin: false });
    client.send('two ', { fin: false });
    client.send('three', { fin: true });
    const [message] = (await reply) as [Buffer];
    assert.equal(message.toString(), 'one two three');
    client.close();
    await closed(client);
  });

  test('ping reaches the backend and its pong comes back with the same payload', async () => {
    const client = await openClient(gateway.ws('/ws/ping'));
    const pong = once(client, 'pong');
    client.ping(Buffer.from('are you there'));
    const [payload] = (await pong) as [Buffer];
    assert.equal(payload.toString(), 'are you there');
    const serverSide = [...backend.wss.clients].at(-1)!;
    const clientPong = once(serverSide, 'pong');
    serverSide.ping(Buffer.from('backend ping'));
    const [echoed] = (await clientPong) as [Buffer];
    assert.equal(echoed.toString(), 'backend ping');
    client.close();
    await closed(client);
  });

  test('the backend chooses among several offered subprotocols and the client sees its choice', async () => {
    const client = await openClient(gateway.ws('/ws/proto'), ['chat.v1', 'chat.v2', 'chat.v3']);
    assert.equal(client.protocol, 'chat.v2');
    assert.equal(backend.requests.at(-1)!.headers['sec-websocket-protocol'], 'chat.v1,chat.v2,chat.v3');
    client.close();
    await closed(client);
  });

  test('permessage-deflate is negotiated end to end and compressed messages pass', async () => {
    const client = await openClient(gateway.ws('/deflate/x'), undefined, {
      perMessageDeflate: { threshold: 0 },
    });
    assert.match(client.extensions, /permessage-deflate/);
    const text = 'compress me '.repeat(1000);
    const { data } = await roundTrip(client, text);
    assert.equal(data.toString(), text);
    client.close();
    await closed(client);
  });

  test('application close codes and reasons (4401) reach the client unchanged', async () => {
    const client = new WebSocket(gateway.ws('/ws/close-4401'));
    assert.deepEqual(await closed(client), { code: 4401, reason: 'unauthorised: token expired' });
  });

  test('a client close code and reason reach the backend unchanged', async () => {
    const client = await openClient(gateway.ws('/ws/client-close'));
    const serverSide = [...backend.wss.clients].at(-1)!;
    const backendClosed = once(serverSide, 'close');
    client.close(4000, 'bye from client');
    const [code, reason] = (await backendClosed) as [number, Buffer];
    assert.equal(code, 4000);
    assert.equal(reason.toString(), 'bye from client');
  });

  test('an abnormal backend drop stays abnormal (1006) for the client', async () => {
    const client = new WebSocket(gateway.ws('/ws/drop'));
    client.on('error', () => undefined);
    const { code } = await closed(client);
    assert.equal(code, 1006);
  });
});
