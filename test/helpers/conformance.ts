/**
 * Why: the bare gateway and the Express, Koa and Fastify adapters must behave alike on the wire; one suite, run
 * against each of them as a "subject", says so case by case instead of four suites drifting apart.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { CloseOptions, TargetOptions, TunnelError, Wstunnel } from '@wstunnel/core';
import { WebSocket, WebSocketServer } from 'ws';
import { awaitUsingSupported, get, nextWarning, startAppBackend } from '../frameworks/support.ts';
import { type EchoBackend, startEchoBackend, startRawBackend, switchingFor } from './backends.ts';
import { type Cleanup, cleanupAfterEach } from './cleanup.ts';
import { closed, openClient, roundTrip } from './gateway.ts';
import { deadPort, handshakeRequest, rawConnect, rawExchange, readHead, statusOf } from './net.ts';

/** How a subject is set up for one test. Every subject tunnels `/ws/<rest>` to `target` + `<rest>`. */
export interface SubjectOptions {
  /** Backend base URL of the `/ws/` route, ending with `/` (`ws://127.0.0.1:port/`). */
  readonly target: string;
  /** Target options of the `/ws/` route (`timeout`, `fallbackToHttp`). */
  readonly tunnel?: TargetOptions;
  /**
   * Declare, after the `/ws/` route, an HTTP catch-all answering `app <path>` (200, text) to plain requests: a
   * framework route, or for the gateway a second rule to an HTTP backend answering the same.
   */
  readonly catchAll?: boolean;
  /**
   * Declare, before the `/ws/` route, an auth step answering 401 `no` when `x-auth` is missing and 403 `forbidden`
   * when it is not `yes` (frameworks only).
   */
  readonly auth?: boolean;
  /** `false`: leave out the setup line `routeUpgrades(server, app)`, as a developer who forgot it (Express, Koa). */
  readonly routed?: boolean;
}

/** What the app drains: `close()` and `await using` (`Symbol.asyncDispose`). */
export interface Drain extends AsyncDisposable {
  close(options?: CloseOptions): Promise<void>;
}

/** A started subject. */
export interface RunningSubject {
  /** The node:http server everything listens on (foreign upgrade listeners are added to it). */
  readonly server: Server;
  readonly port: number;
  /** The Wstunnel engine behind the `/ws/` route: events, `size`, `openTunnels`, `close()`. */
  readonly engine: Wstunnel;
  /** What the app drains the `/ws/` route with: the Express or Koa middleware, the engine otherwise. */
  readonly drain: Drain;
  /** `ws://127.0.0.1:port` + path. */
  url(path: string): string;
  /** Stops the subject, ending whatever it still has open. */
  close(): Promise<void>;
}

/** One way of putting wstunnel in front of a backend. */
export interface Subject {
  start(options: SubjectOptions): Promise<RunningSubject>;
  /** Whether it can run an auth step before the tunnel (`false` for the bare gateway: the case is skipped). */
  readonly auth: boolean;
  /**
   * Whether the app needs the setup line `routeUpgrades(server, app)` (Express, Koa); the case that forgets it is
   * skipped for the others (the Fastify plugin bridges its prefix itself, the gateway attaches itself).
   */
  readonly routeUpgrades: boolean;
  /** Known product bugs: case name -> `BUG: ...`, reported as todo so the failure stays visible. */
  readonly bugs?: Readonly<Partial<Record<CaseName, string>>>;
}

/** Cases a subject can mark as a known bug. */
export type CaseName = 'ordering';

/** Per-case bound: a case that hangs fails fast instead of holding the file for the runner's timeout. */
const CASE = { timeout: 8_000 };

/** What a WebSocket client saw for its handshake: 101 (an open client) or another status with its body. */
interface HandshakeResult {
  readonly status: number;
  readonly body: string;
  readonly client: WebSocket;
}

/** Opens a `ws` client and resolves with 101 once open, or with the status and body of any other response. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<HandshakeResult> {
  const client = new WebSocket(url, { headers });
  client.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    client.once('open', () => resolve({ status: 101, body: '', client }));
    client.once('unexpected-response', (req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), client });
      });
    });
    client.once('error', reject);
  });
}

/** Sends `text` and checks that the same text comes back (from the echo backend, through the tunnel). */
async function assertEchoes(client: WebSocket, text: string): Promise<void> {
  assert.equal((await roundTrip(client, text)).data.toString(), text);
}

/** Waits a bounded number of event-loop turns (no timers) until `check` holds. */
async function turnsUntil(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 2_000 && !check(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), `never happened: ${what}`);
}

/** Resolves after `count` 'close' events of `engine` (tunnels that ended). */
function tunnelsClosed(engine: Wstunnel, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onClose = (): void => {
      if (++seen < count) return;
      engine.off('close', onClose);
      resolve();
    };
    engine.on('close', onClose);
  });
}

/** The engine's counters are back to zero (bounded wait: release can follow the event by a turn). */
async function idle(engine: Wstunnel): Promise<void> {
  await turnsUntil(() => engine.size === 0 && engine.openTunnels === 0, 'engine.size and openTunnels at 0');
}

/** Registers the conformance cases for one subject. */
export function conformanceSuite(name: string, subject: Subject): void {
  describe(`conformance: ${name}`, () => {
    const defer = cleanupAfterEach();

    /** Starts the subject for this test and closes it after. */
    async function start(options: SubjectOptions): Promise<RunningSubject> {
      const running = await subject.start(options);
      defer(() => running.close());
      return running;
    }

    async function echo(options: Parameters<typeof startEchoBackend>[0] = {}): Promise<EchoBackend> {
      const backend = await startEchoBackend(options);
      defer(() => backend.close());
      return backend;
    }

    /** An echo backend and the subject in front of it. */
    async function echoSubject(): Promise<{ backend: EchoBackend; gw: RunningSubject }> {
      const backend = await echo();
      return { backend, gw: await start({ target: `${backend.origin}/` }) };
    }

    /** An upgrade to `/ws/after` after the route began to drain gets 503. */
    async function refusedAfterDrain(gw: RunningSubject): Promise<void> {
      const after = await rawExchange(gw.port, handshakeRequest('/ws/after', {}, gw.port));
      assert.equal(statusOf(after), 503, after);
    }

    /**
     * A raw backend; `closes` collects a promise per backend connection that settles when it closes. Like a real
     * server, it ends its side when wstunnel ends its own (the raw backend allows half-open connections).
     */
    async function raw(script: (socket: Socket, head: string) => void) {
      const closes: Promise<unknown>[] = [];
      const backend = await startRawBackend((socket, head) => {
        closes.push(once(socket, 'close'));
        socket.once('end', () => socket.end());
        script(socket, head);
      });
      defer(() => backend.close());
      return { backend, closes };
    }

    describe('echo and transparency', () => {
      /** One backend for the transparency cases: picks chat.v2, deflates, and scripts some paths. */
      async function transparent(): Promise<{ backend: EchoBackend; gw: RunningSubject }> {
        const backend = await echo({
          handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
          perMessageDeflate: { threshold: 0 },
        });
        backend.wss.on('connection', (socket, req) => {
          if (req.url === '/close-4401') socket.close(4401, 'unauthorised: token expired');
          if (req.url === '/fragments') {
            socket.send('frag-', { fin: false });
            socket.send('ment-', { fin: false });
            socket.send('ed', { fin: true });
          }
        });
        const gw = await start({ target: `${backend.origin}/` });
        return { backend, gw };
      }

      it('echoes text as text and binary as binary, on the mount-relative backend path', CASE, async () => {
        const { backend, gw } = await transparent();
        const client = await openClient(gw.url('/ws/echo?room=1'), undefined, { perMessageDeflate: false });
        assert.equal(backend.requests.at(-1)?.url, '/echo?room=1');
        const text = await roundTrip(client, 'héllo wörld');
        assert.deepEqual([text.isBinary, text.data.toString()], [false, 'héllo wörld']);
        const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
        const binary = await roundTrip(client, bytes);
        assert.equal(binary.isBinary, true);
        assert.deepEqual(binary.data, bytes);
        client.close();
        await closed(client);
      });

      it('the client sees the subprotocol the backend chose among those offered', CASE, async () => {
        const { backend, gw } = await transparent();
        const client = await openClient(gw.url('/ws/proto'), ['chat.v1', 'chat.v2', 'chat.v3']);
        assert.equal(client.protocol, 'chat.v2');
        assert.equal(backend.requests.at(-1)?.headers['sec-websocket-protocol'], 'chat.v1,chat.v2,chat.v3');
        client.close();
        await closed(client);
      });

      it('permessage-deflate is negotiated end to end and compressed messages pass', CASE, async () => {
        const { backend, gw } = await transparent();
        const client = await openClient(gw.url('/ws/deflate'), undefined, {
          perMessageDeflate: { threshold: 0 },
        });
        assert.match(client.extensions, /permessage-deflate/);
        assert.match(
          backend.requests.at(-1)?.headers['sec-websocket-extensions'] ?? '',
          /permessage-deflate/,
        );
        const text = 'compress me '.repeat(1000);
        assert.equal((await roundTrip(client, text)).data.toString(), text);
        client.close();
        await closed(client);
      });

      it('fragmented messages are reassembled unchanged in both directions', CASE, async () => {
        const { gw } = await transparent();
        const fromBackend = new WebSocket(gw.url('/ws/fragments'));
        const [message] = (await once(fromBackend, 'message')) as [Buffer];
        assert.equal(message.toString(), 'frag-ment-ed');
        fromBackend.close();
        await closed(fromBackend);
        const client = await openClient(gw.url('/ws/client-fragments'));
        const reply = once(client, 'message');
        client.send('one ', { fin: false });
        client.send('two ', { fin: false });
        client.send('three', { fin: true });
        assert.equal(((await reply) as [Buffer])[0].toString(), 'one two three');
        client.close();
        await closed(client);
      });

      it('ping and pong pass in both directions with their payloads', CASE, async () => {
        const { backend, gw } = await transparent();
        const client = await openClient(gw.url('/ws/ping'));
        const pong = once(client, 'pong');
        client.ping(Buffer.from('are you there'));
        assert.equal(((await pong) as [Buffer])[0].toString(), 'are you there');
        const serverSide = [...backend.wss.clients].at(-1)!;
        const clientPong = once(serverSide, 'pong');
        serverSide.ping(Buffer.from('backend ping'));
        assert.equal(((await clientPong) as [Buffer])[0].toString(), 'backend ping');
        client.close();
        await closed(client);
      });

      it('close codes and reasons pass in both directions', CASE, async () => {
        const { backend, gw } = await transparent();
        const closedByBackend = new WebSocket(gw.url('/ws/close-4401'));
        assert.deepEqual(await closed(closedByBackend), {
          code: 4401,
          reason: 'unauthorised: token expired',
        });
        const client = await openClient(gw.url('/ws/client-close'));
        const serverSide = [...backend.wss.clients].at(-1)!;
        const backendClosed = once(serverSide, 'close');
        client.close(4000, 'bye from client');
        const [code, reason] = (await backendClosed) as [number, Buffer];
        assert.deepEqual([code, reason.toString()], [4000, 'bye from client']);
      });

      it('a 1 MiB message arrives intact', CASE, async () => {
        const { gw } = await transparent();
        const client = await openClient(gw.url('/ws/big'), undefined, { perMessageDeflate: false });
        const payload = Buffer.alloc(1_048_576);
        for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
        const { data } = await roundTrip(client, payload);
        assert.equal(data.length, payload.length);
        assert.ok(data.equals(payload), 'the 1 MiB payload changed');
        client.close();
        await closed(client);
      });
    });

    describe('failures', () => {
      it('backend down: 502, no 101', CASE, async () => {
        const gw = await start({ target: `ws://127.0.0.1:${await deadPort()}/` });
        const response = await rawExchange(gw.port, handshakeRequest('/ws/x'));
        assert.equal(statusOf(response), 502, response);
        assert.doesNotMatch(response, /\b101\b/);
        await idle(gw.engine);
      });

      it('backend slow to answer the handshake: 504 after the configured timeout', CASE, async () => {
        const { backend, closes } = await raw(() => undefined);
        const slow = await start({ target: `${backend.origin}/`, tunnel: { timeout: 300 } });
        const started = Date.now();
        const response = await rawExchange(slow.port, handshakeRequest('/ws/x'));
        const elapsed = Date.now() - started;
        assert.equal(statusOf(response), 504, response);
        assert.ok(elapsed >= 250, `answered after ${elapsed} ms, before the 300 ms timeout`);
        assert.ok(elapsed < 3_000, `answered after ${elapsed} ms, far beyond the 300 ms timeout`);
        assert.equal(closes.length, 1);
        await closes[0];
        await idle(slow.engine);
      });

      it(
        'backend refuses with 401 and a body: the client gets that 401 and body, not an open socket',
        CASE,
        async () => {
          const { backend } = await raw((socket) =>
            socket.end(
              'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 12\r\n\r\nlog in first',
            ),
          );
          const gw = await start({ target: `${backend.origin}/` });
          const response = await rawExchange(gw.port, handshakeRequest('/ws/x'));
          assert.match(response, /^HTTP\/1\.1 401 /);
          assert.match(response, /\r\nWWW-Authenticate: Bearer\r\n/i);
          assert.ok(response.endsWith('\r\n\r\nlog in first'), JSON.stringify(response));
          const seen = await handshake(gw.url('/ws/x'));
          assert.deepEqual([seen.status, seen.body], [401, 'log in first']);
          await idle(gw.engine);
        },
      );

      const leaving = [
        ['client leaves during the handshake: the backend side is torn down, counters back to 0', 'destroy'],
        [
          'client resets while the backend handshake is pending: no crash, the backend side is let go, counters back to 0',
          'resetAndDestroy',
        ],
      ] as const;
      for (const [name, leave] of leaving)
        it(name, CASE, async () => {
          const reached = Promise.withResolvers<void>();
          // The first handshake is never answered; a later one is, to show the subject still serves.
          const { backend, closes } = await raw((socket, head) => {
            if (closes.length === 1) reached.resolve();
            else socket.write(switchingFor(head));
          });
          const gw = await start({ target: `${backend.origin}/` });
          const failed = once(gw.engine, 'failed');
          const client = await rawConnect(gw.port);
          client.on('error', () => undefined);
          client.write(handshakeRequest('/ws/x', {}, gw.port));
          await reached.promise;
          assert.equal(gw.engine.size, 1);
          client[leave]();
          // The backend keeps its side half-open until wstunnel ends its own: this close shows wstunnel let go.
          await closes[0];
          assert.equal(((await failed)[0] as TunnelError).code, 'ERR_WSTUNNEL_CLIENT_GONE');
          await idle(gw.engine);
          const after = await openClient(gw.url('/ws/after'), undefined, { perMessageDeflate: false });
          after.terminate();
        });

      it('backend resets mid-stream: the client closes with 1006, counters back to 0', CASE, async () => {
        const { backend } = await raw((socket, head) => {
          socket.write(switchingFor(head));
          socket.once('data', () => socket.resetAndDestroy());
        });
        const gw = await start({ target: `${backend.origin}/` });
        const client = await openClient(gw.url('/ws/x'), undefined, { perMessageDeflate: false });
        const tunnelClosed = once(gw.engine, 'close');
        const clientClosed = closed(client);
        client.send('trigger');
        assert.equal((await clientClosed).code, 1006);
        assert.equal((await tunnelClosed)[1].reason, 'backend-error');
        await idle(gw.engine);
      });

      it('client resets mid-stream: the backend connection is closed, counters back to 0', CASE, async () => {
        const { backend, gw } = await echoSubject();
        const client = await rawConnect(gw.port);
        client.write(handshakeRequest('/ws/x', {}, gw.port));
        const { head } = await readHead(client);
        assert.match(head, /^HTTP\/1\.1 101 /);
        const serverSide = [...backend.wss.clients][0]!;
        const backendClosed = once(serverSide, 'close');
        const tunnelClosed = once(gw.engine, 'close');
        client.resetAndDestroy();
        assert.equal(((await backendClosed) as [number])[0], 1006);
        assert.match((await tunnelClosed)[1].reason, /^client-/);
        await idle(gw.engine);
      });
    });

    it('smuggling: a backend 200 to an upgrade is relayed as a 200 and opens no tunnel', CASE, async () => {
      const { backend, closes } = await raw((socket) =>
        // A frame after the body: if the connection became a tunnel, the client would see it.
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\x81\x05world',
        ),
      );
      const gw = await start({ target: `${backend.origin}/` });
      const smuggled = 'GET /internal/admin HTTP/1.1\r\nHost: backend.internal\r\n\r\n';
      const response = await rawExchange(gw.port, handshakeRequest('/ws/x', {}, gw.port) + smuggled);
      assert.equal(statusOf(response), 200, response);
      assert.ok(
        response.endsWith('\r\n\r\nhello'),
        `bytes after the 200 body reached the client: ${JSON.stringify(response)}`,
      );
      assert.equal(response.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, 'exactly one response');
      await closes[0];
      assert.equal(backend.connections, 1, 'the pipelined request opened a second backend connection');
      assert.equal(
        Buffer.concat(backend.bodies[0] ?? []).length,
        0,
        'client bytes were tunnelled after the 200',
      );
      await idle(gw.engine);
    });

    const ordering = subject.bugs?.ordering;
    it(
      'ordering: a WebSocket-only route before an HTTP catch-all takes the upgrade, the catch-all the GET',
      ordering === undefined ? CASE : { ...CASE, todo: ordering },
      async () => {
        const backend = await echo();
        const gw = await start({
          target: `${backend.origin}/`,
          tunnel: { fallbackToHttp: false },
          catchAll: true,
        });
        const client = await openClient(gw.url('/ws/chat'));
        await assertEchoes(client, 'to ws');
        assert.deepEqual(
          backend.requests.map((req) => req.url),
          ['/chat'],
        );
        client.close();
        await closed(client);
        const plain = await fetch(`http://127.0.0.1:${gw.port}/ws/chat`);
        assert.deepEqual([plain.status, await plain.text()], [200, 'app /ws/chat']);
        const other = await fetch(`http://127.0.0.1:${gw.port}/other`);
        assert.deepEqual([other.status, await other.text()], [200, 'app /other']);
        assert.equal(backend.requests.length, 1, 'a plain request reached the WebSocket backend');
      },
    );

    it('auth before the upgrade: a 401 or 403 from the app reaches the client and the backend sees no handshake', {
      ...CASE,
      skip: subject.auth ? false : 'the bare gateway has no middleware',
    }, async () => {
      let handshakes = 0;
      const backend = await echo({ verifyClient: () => ++handshakes > 0 });
      const gw = await start({ target: `${backend.origin}/`, auth: true });
      const events: string[] = [];
      for (const event of ['open', 'refused', 'failed'] as const)
        gw.engine.on(event, () => events.push(event));
      const denied = await handshake(gw.url('/ws/x'));
      assert.deepEqual([denied.status, denied.body], [401, 'no']);
      const forbidden = await handshake(gw.url('/ws/x'), { 'x-auth': 'wrong' });
      assert.deepEqual([forbidden.status, forbidden.body], [403, 'forbidden']);
      assert.equal(handshakes, 0, 'the backend saw a handshake the app refused');
      assert.deepEqual(events, [], 'the tunnel was reached by a request the app refused');
      const allowed = await handshake(gw.url('/ws/x'), { 'x-auth': 'yes' });
      assert.equal(allowed.status, 101);
      await assertEchoes(allowed.client, 'authorised');
      assert.deepEqual([handshakes, events], [1, ['open']]);
      allowed.client.close();
      await closed(allowed.client);
    });

    it(
      'no warm-up: the first request a fresh subject ever sees is a WebSocket, and it works',
      CASE,
      async () => {
        const { gw } = await echoSubject();
        const client = await openClient(gw.url('/ws/first'));
        await assertEchoes(client, 'first');
        client.close();
        await closed(client);
      },
    );

    it(
      'coexistence: a foreign noServer ws handler on the same server gets only its upgrades',
      CASE,
      async () => {
        const { gw } = await echoSubject();
        const foreign = new WebSocketServer({ noServer: true });
        const seen: string[] = [];
        // The `ws` README pattern: take your path, destroy the rest.
        gw.server.on('upgrade', (req, socket, head) => {
          seen.push(req.url ?? '');
          if (req.url === '/foreign')
            foreign.handleUpgrade(req, socket, head, (ws) => {
              ws.send('from foreign');
              ws.on('message', (data) => ws.send(data));
            });
          else socket.destroy();
        });
        const cleanup: Cleanup = () => {
          for (const client of foreign.clients) client.terminate();
          foreign.close();
        };
        defer(cleanup);
        const greeting = new WebSocket(gw.url('/foreign'));
        const foreignClient = await Promise.race([
          once(greeting, 'message').then(([data]) => {
            assert.equal(String(data), 'from foreign');
            return greeting;
          }),
          once(greeting, 'unexpected-response').then(([, res]) => {
            throw new Error(`/foreign answered ${(res as IncomingMessage).statusCode}`);
          }),
        ]);
        const tunnelled = await handshake(gw.url('/ws/x'));
        assert.equal(tunnelled.status, 101, `the wstunnel route answered ${tunnelled.status}`);
        await assertEchoes(tunnelled.client, 'tunnelled');
        await assertEchoes(foreignClient, 'foreign');
        // Nobody's path: some status or a closed connection, bounded by the case timeout.
        const unknown = await rawExchange(gw.port, handshakeRequest('/nobody', {}, gw.port));
        assert.ok(unknown === '' || statusOf(unknown) >= 400, `unknown path got ${JSON.stringify(unknown)}`);
        assert.notEqual(statusOf(unknown), 101);
        assert.ok(!seen.some((url) => url.startsWith('/ws/')), `the foreign listener saw ${seen.join(', ')}`);
        assert.ok(seen.includes('/foreign'));
        tunnelled.client.close();
        foreignClient.close();
        await Promise.all([closed(tunnelled.client), closed(foreignClient)]);
      },
    );

    // The ws server's 101 must reach the client: a hang here (cut by the timeout) means it stayed in a corked socket.
    it('an upgrade the subject answers 404 goes on to another upgrade listener on the server (a ws server)', {
      timeout: 2_000,
    }, async () => {
      const { backend, gw } = await echoSubject();
      const local = new WebSocketServer({ server: gw.server, path: '/local' });
      defer(() => {
        for (const client of local.clients) client.terminate();
        local.close();
      });
      local.on('connection', (client) => client.on('message', (data) => client.send(`local ${data}`)));
      const tunnelled = await openClient(gw.url('/ws/a'));
      await assertEchoes(tunnelled, 'x');
      const own = await openClient(gw.url('/local'));
      assert.equal((await roundTrip(own, 'y')).data.toString(), 'local y');
      assert.deepEqual(
        backend.requests.map((req) => req.url),
        ['/a'],
      );
      tunnelled.close();
      own.close();
      await Promise.all([closed(tunnelled), closed(own)]);
    });

    it(
      'a path with dot segments under the route gets 400 and reaches no backend (raw upgrade, not normalised)',
      CASE,
      async () => {
        const backend = await startAppBackend(defer);
        const gw = await start({ target: `${backend.origin}/` });
        const statuses: number[] = [];
        for (const path of ['/ws/a/%2e%2e/admin', '/ws/a/../admin', '/ws/..%2fadmin'])
          statuses.push(statusOf(await rawExchange(gw.port, handshakeRequest(path, {}, gw.port))));
        assert.deepEqual(statuses, [400, 400, 400]);
        assert.equal(backend.upgrades.length + backend.requests.length, 0);
      },
    );

    it(
      'plain requests under the route reach the mount-relative backend path, a POST with its body (long-polling)',
      CASE,
      async () => {
        const backend = await startAppBackend(defer);
        const gw = await start({ target: `${backend.origin}/` });
        const page = await get(gw.port, '/ws/page?x=1');
        assert.deepEqual([page.status, page.body], [200, 'plain /page?x=1']);
        const posted = await get(
          gw.port,
          '/ws/poll?sid=1',
          { 'content-type': 'text/plain' },
          'POST',
          'payload=1',
        );
        assert.deepEqual([posted.status, posted.body], [200, 'plain POST /poll?sid=1 payload=1']);
        assert.deepEqual(
          backend.requests.map((seen) => seen.url),
          ['/page?x=1', '/poll?sid=1'],
        );
        assert.equal(backend.upgrades.length, 0);
      },
    );

    it('forgetting routeUpgrades: the upgrade gets a 500 naming routeUpgrades, and a process warning', {
      ...CASE,
      skip: subject.routeUpgrades ? false : 'no setup line to forget: upgrades are bridged without one',
    }, async () => {
      const backend = await startAppBackend(defer);
      const gw = await start({ target: `${backend.origin}/`, routed: false });
      const warning = nextWarning('WSTUNNEL_UPGRADES_NOT_ROUTED');
      const refused = await handshake(gw.url('/ws/a'));
      assert.equal(refused.status, 500);
      assert.match(refused.body, /routeUpgrades/);
      assert.match((await warning).message, /routeUpgrades/);
      assert.equal(backend.upgrades.length + backend.requests.length, 0);
    });

    it('drain: close({timeout}) ends an open tunnel and resolves; new upgrades get 503', CASE, async () => {
      const { backend, gw } = await echoSubject();
      const client = await openClient(gw.url('/ws/x'));
      await roundTrip(client, 'before drain');
      const clientClosed = closed(client);
      const draining = gw.engine.close({ timeout: 150 });
      const during = await rawExchange(gw.port, handshakeRequest('/ws/x', {}, gw.port));
      assert.equal(statusOf(during), 503, during);
      await clientClosed;
      await draining;
      assert.equal(gw.engine.size, 0);
      assert.equal(gw.engine.openTunnels, 0);
      const after = await rawExchange(gw.port, handshakeRequest('/ws/x', {}, gw.port));
      assert.equal(statusOf(after), 503, after);
      assert.equal(backend.requests.length, 1, 'the backend saw a handshake after the drain began');
    });

    it(
      'drain: open tunnels keep flowing, newcomers get 503, close() resolves as soon as they end',
      CASE,
      async () => {
        const { backend, gw } = await echoSubject();
        const client = await openClient(gw.url('/ws/a'));
        await assertEchoes(client, 'before');
        assert.equal(gw.engine.openTunnels, 1);
        const started = Date.now();
        const closing = gw.drain.close({ timeout: 6_000 });
        const late = await rawExchange(gw.port, handshakeRequest('/ws/late', {}, gw.port));
        assert.equal(statusOf(late), 503, late);
        assert.equal((await get(gw.port, '/ws/page')).status, 503);
        await assertEchoes(client, 'during');
        client.close(1000);
        await closing;
        assert.ok(Date.now() - started < 3_000, 'close() waited for its deadline although the tunnel ended');
        assert.equal(gw.engine.size, 0);
        assert.equal(gw.engine.openTunnels, 0);
        assert.deepEqual(
          backend.requests.map((req) => req.url),
          ['/a'],
        );
      },
    );

    it('await using drains the route when the block ends', {
      ...CASE,
      skip: !awaitUsingSupported && 'this Node cannot parse await using',
    }, async () => {
      const { inAwaitUsingBlock } = await import('../frameworks/await-using.ts');
      const { gw } = await echoSubject();
      await inAwaitUsingBlock(gw.drain, async () => {
        const client = await openClient(gw.url('/ws/a'));
        await assertEchoes(client, 'scoped');
        client.close(1000);
        await closed(client);
      });
      assert.equal(gw.engine.closing, true);
      assert.equal(gw.engine.size, 0);
      await refusedAfterDrain(gw);
    });

    it('Symbol.asyncDispose (what await using calls) drains like close()', CASE, async () => {
      const { gw } = await echoSubject();
      const client = await openClient(gw.url('/ws/a'));
      await assertEchoes(client, 'scoped');
      const disposing = gw.drain[Symbol.asyncDispose]();
      assert.equal(gw.engine.closing, true);
      await assertEchoes(client, 'draining');
      client.close(1000);
      await disposing;
      assert.equal(gw.engine.size, 0);
      await refusedAfterDrain(gw);
    });

    it(
      'leak: 50 parallel and 50 serial tunnels opened and closed leave size and openTunnels at 0',
      CASE,
      async () => {
        const { backend, gw } = await echoSubject();
        const all = tunnelsClosed(gw.engine, 100);
        // The burst is the first thing the fresh subject sees: many WebSockets at once must all open.
        const parallel = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            openClient(gw.url(`/ws/p${i}`), undefined, { perMessageDeflate: false }),
          ),
        );
        assert.equal(gw.engine.openTunnels, 50);
        await Promise.all(
          parallel.map(async (client, i) => {
            await assertEchoes(client, `p${i}`);
            client.close();
            await closed(client);
          }),
        );
        for (let i = 0; i < 50; i++) {
          const client = await openClient(gw.url(`/ws/s${i}`), undefined, { perMessageDeflate: false });
          await assertEchoes(client, `s${i}`);
          if (i % 2 === 0) client.close();
          else client.terminate();
          await once(client, 'close');
        }
        await all;
        await idle(gw.engine);
        await turnsUntil(() => backend.wss.clients.size === 0, 'every backend connection closed');
        assert.equal(backend.requests.length, 100);
      },
    );
  });
}
