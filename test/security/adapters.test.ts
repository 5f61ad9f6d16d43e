/**
 * The gateway's security suite, condensed, against the Express, Koa and Fastify adapters. With an adapter an upgrade
 * first runs through the framework on a ServerResponse bound to the raw socket (the upgrade bridge), with auth in
 * front of the tunnel; so the attacks picked here are those most likely to behave differently there: bytes pipelined
 * behind an upgrade the app refuses or does not route, bytes sent while the app is still deciding, upgrades with
 * bodies (which the app serves as ordinary requests), CL/TE tricks next to an app route for the same path, header
 * injection through a route's `headers` function, and responses the framework relays for a plain-proxied request.
 * Each subject: an auth step answering 401 `no` without `X-Auth: yes`, an app route `/ws/info` (any method, echoes
 * the body), then a tunnel `/ws/` -> raw backend `/base/` whose `headers` function copies the `room` query parameter.
 * Safety properties, as for the gateway: never a 101 before the backend's 101, never a tunnel when the backend did not
 * switch, nothing after a refusal served as a request around the auth step, no header injection reaching the backend,
 * no crash (uncaughtException / unhandledRejection watched for the whole file), no hang (every test bounded), and
 * `engine.size` back to 0.
 */

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Wstunnel } from '@wstunnel/core';
import { routeUpgrades as expressRouteUpgrades, wstunnel as expressTunnel } from '@wstunnel/express';
import { wstunnel as fastifyTunnel, tunnelsOf } from '@wstunnel/fastify';
import { routeUpgrades as koaRouteUpgrades, wstunnel as koaTunnel } from '@wstunnel/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { closeServer, listen } from '../helpers/net.ts';
import {
  acceptAnything,
  assertGatewayError,
  assertPlainRequest,
  barrier,
  type Collector,
  type ConnScript,
  Fixture,
  type ParsedResponse,
  PLAIN_BODY,
  parseResponse,
  rawRequest,
  receivedAtLeast,
  requestHeaderPairs,
  type ScriptedBackend,
  SWITCHING,
  statusLineCount,
  switching101,
  TEST_TIMEOUT_MS,
  values,
  writeFully,
  wsHandshake,
} from './support.ts';

const opts = { timeout: TEST_TIMEOUT_MS };
const fx = Fixture.perTest();
const defer = cleanupAfterEach();

// ---------------------------------------------------------------------------------------------------------------
// Process-level watch: any uncaught error or unhandled rejection while this file runs is a crash in production.

interface Incident {
  readonly kind: 'uncaughtException' | 'unhandledRejection' | 'warning';
  readonly error: unknown;
}
const incidents: Incident[] = [];
const onUncaught = (error: unknown): void => void incidents.push({ kind: 'uncaughtException', error });
const onUnhandled = (error: unknown): void => void incidents.push({ kind: 'unhandledRejection', error });
/** The bridge reports a framework that threw while routing an upgrade as a WstunnelWarning: a contained crash. */
const onWarning = (warning: Error): void => {
  if (warning.name === 'WstunnelWarning' || warning.name === 'MaxListenersExceededWarning')
    incidents.push({ kind: 'warning', error: warning });
};
before(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  process.on('warning', onWarning);
});
after(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  process.off('warning', onWarning);
});

function describeIncidents(list: readonly Incident[]): string {
  return list
    .map(({ kind, error }) => `${kind}: ${(error as Error)?.stack ?? String(error)}`.split('\n')[0])
    .join('; ');
}

// ---------------------------------------------------------------------------------------------------------------
// Subjects.

type Adapter = 'express' | 'koa' | 'fastify';
const ADAPTERS: readonly Adapter[] = ['express', 'koa', 'fastify'];

/** Holds the auth step of chosen requests until the test lets it decide. */
type Gate = (req: IncomingMessage) => Promise<void> | undefined;

interface AppOptions {
  /** Backend base URL of the `/ws/` route (ends with `/`). */
  readonly target: string;
  readonly gate?: Gate | undefined;
}

interface App {
  readonly server: Server;
  readonly port: number;
  readonly engine: Wstunnel;
  /** `METHOD url` of every request the auth step saw, barrier requests left out. */
  readonly saw: () => string[];
  /** Server-side sockets, in accept order. */
  readonly sockets: Socket[];
  close(): Promise<void>;
}

/** The `x-room` header the route's `headers` function adds: the decoded `room` query parameter, client-controlled. */
function roomHeader(query: unknown): Record<string, string> | undefined {
  const room = (query as Record<string, unknown> | undefined)?.['room'];
  return typeof room === 'string' ? { 'x-room': room } : undefined;
}

/** Reads a request body as latin1 text. */
async function bodyText(req: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('latin1');
}

function served(server: Server, log: string[]) {
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  return { sockets, saw: () => log.filter((line) => !line.endsWith(' /__barrier__')) };
}

/** An Express or Koa app on its own server, upgrades routed through it; `close` stops routing, drains, closes. */
async function bridgedApp(
  server: Server,
  route: { tunnel: App['engine']; close(options: { timeout: number }): Promise<void> },
  routeUpgrades: (server: Server) => () => void,
  log: string[],
): Promise<App> {
  const port = await listen(server);
  const stop = routeUpgrades(server);
  return {
    server,
    port,
    engine: route.tunnel,
    ...served(server, log),
    async close() {
      stop();
      await route.close({ timeout: 0 });
      await closeServer(server);
    },
  };
}

const START: Record<Adapter, (options: AppOptions) => Promise<App>> = {
  async express({ target, gate }) {
    const app = express();
    // Express's default error handler logs every 5xx to stderr except in its 'test' env.
    app.set('env', 'test');
    const log: string[] = [];
    app.use((req, res, next) => {
      log.push(`${req.method} ${req.url}`);
      const decide = (): void => {
        if (req.headers['x-auth'] !== 'yes') res.status(401).type('text/plain').send('no');
        else next();
      };
      const held = gate?.(req);
      if (held === undefined) decide();
      else held.then(decide, next);
    });
    app.all('/ws/info', (req, res, next) => {
      bodyText(req).then((body) => res.type('text/plain').send(`app info ${req.method} ${body}`), next);
    });
    const route = expressTunnel(target, { headers: (req) => roomHeader(req.query) });
    app.use('/ws/', route);
    return bridgedApp(createServer(app), route, (server) => expressRouteUpgrades(server, app), log);
  },

  async koa({ target, gate }) {
    const app = new Koa();
    app.silent = true;
    const log: string[] = [];
    app.use(async (ctx, next) => {
      log.push(`${ctx.method} ${ctx.url}`);
      await gate?.(ctx.req);
      if (ctx.get('x-auth') !== 'yes') {
        ctx.status = 401;
        ctx.body = 'no';
        return;
      }
      await next();
    });
    app.use(async (ctx, next) => {
      if (ctx.path !== '/ws/info') return next();
      const body = await bodyText(ctx.req);
      ctx.type = 'text/plain';
      ctx.body = `app info ${ctx.method} ${body}`;
    });
    const route = koaTunnel({ rules: [{ path: '/ws/', target }], headers: (ctx) => roomHeader(ctx.query) });
    app.use(route);
    return bridgedApp(createServer(app.callback()), route, (server) => koaRouteUpgrades(server, app), log);
  },

  async fastify({ target, gate }) {
    const fastify = Fastify();
    const log: string[] = [];
    fastify.addHook('onRequest', async (request, reply) => {
      log.push(`${request.method} ${request.url}`);
      await gate?.(request.raw);
      if (request.headers['x-auth'] !== 'yes') return reply.code(401).type('text/plain').send('no');
    });
    fastify.all('/ws/info', async (request, reply) => {
      const body = typeof request.body === 'string' ? request.body : '';
      return reply.type('text/plain').send(`app info ${request.method} ${body}`);
    });
    await fastify.register(fastifyTunnel, {
      prefix: '/ws',
      target,
      headers: (request) => roomHeader(request.query),
    });
    const server = fastify.server;
    const watch = served(server, log);
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.address() as { port: number };
    const engine = tunnelsOf(fastify)[0]!;
    return {
      server,
      port,
      engine,
      ...watch,
      async close() {
        await engine.close({ timeout: 0 });
        server.closeAllConnections();
        await fastify.close();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Requests and helpers.

const AUTH: readonly (readonly [string, string])[] = [['X-Auth', 'yes']];
/** An authorised WebSocket upgrade to a path the tunnel route takes: what a smuggler wants to get past the app. */
const SMUGGLED_UPGRADE = wsHandshake('/ws/admin', AUTH);
/** The same without credentials: served at all, it must meet the auth step (401). */
const SMUGGLED_UPGRADE_NO_AUTH = wsHandshake('/ws/admin');
/** An authorised plain GET the tunnel route would proxy to the backend. */
const SMUGGLED_GET = rawRequest('GET /ws/internal HTTP/1.1', [['Host', 'front.example'], ...AUTH]);
/** An HTTP/2 connection preface and SETTINGS frame, as an h2c client sends after its upgrade request. */
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const H2_SETTINGS = '\x00\x00\x00\x04\x00\x00\x00\x00\x00';

/** Waits a bounded number of event-loop turns (each one polls I/O, no timers) until `check` holds. */
async function turnsUntil(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 20_000 && !check(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), `never happened: ${what}`);
}

/** Whether a response head says the connection closes after it. */
function closes(response: ParsedResponse): boolean {
  return values(response, 'connection').some((value) => /(?:^|,)\s*close\s*(?:,|$)/i.test(value));
}

/** A gate that holds the auth step of the first request (barriers excepted) until `release()`. */
function gateFirst() {
  const entered = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  let used = false;
  const gate: Gate = (req) => {
    if (used || req.url === '/__barrier__') return undefined;
    used = true;
    entered.resolve();
    return released.promise;
  };
  return { gate, entered: entered.promise, release: () => released.resolve() };
}

/** Per-test context: one subject, its scripted backend, and the raw clients the test opened. */
class Attack {
  readonly adapter: Adapter;
  readonly #clients: Collector[] = [];
  app!: App;
  backend!: ScriptedBackend;

  constructor(adapter: Adapter) {
    this.adapter = adapter;
  }

  /** Starts a scripted backend (default: a 101 to any upgrade, a 200 to anything else) and the subject before it. */
  async start(script: ConnScript = acceptAnything, gate?: Gate): Promise<this> {
    // Like a real server, the backend ends its side when wstunnel ends its own (the sockets allow half-open).
    this.backend = await fx.backend((conn) => {
      conn.socket.once('end', () => conn.socket.end());
      script(conn);
    });
    this.app = await START[this.adapter]({ target: `${this.backend.origin}/base/`, gate });
    const app = this.app;
    defer(() => app.close());
    return this;
  }

  /** A raw client connection to the subject. */
  async client(): Promise<Collector> {
    const client = await fx.client(this.app.port);
    this.#clients.push(client);
    return client;
  }

  /** Sends `request` on a new connection; resolves with the client (nothing awaited on it). */
  async send(request: string | Buffer): Promise<Collector> {
    const client = await this.client();
    client.socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
    return client;
  }

  /** Sends `request` and resolves with everything received until the subject finished sending. */
  async exchange(request: string | Buffer): Promise<string> {
    const client = await this.send(request);
    return (await client.ended).toString('latin1');
  }

  /** Sends `request` and resolves with the status of the first response (its head only is awaited). */
  async status(request: string): Promise<number> {
    const client = await this.send(request);
    const status = parseResponse(`${await client.head()}\r\n\r\n`).status;
    client.socket.destroy();
    return status;
  }

  /** What the auth step saw. */
  saw(): string[] {
    return this.app.saw();
  }

  /** Closes every client, then requires the engine back at 0 and no crash during the test. */
  async settle(incidentsBefore: number): Promise<void> {
    for (const client of this.#clients) client.socket.destroy();
    await turnsUntil(
      () => this.app.engine.size === 0 && this.app.engine.openTunnels === 0,
      `engine.size back to 0 (size ${this.app.engine.size}, open ${this.app.engine.openTunnels})`,
    );
    const during = incidents.slice(incidentsBefore);
    assert.equal(during.length, 0, `the process would have crashed: ${describeIncidents(during)}`);
  }
}

/**
 * Resolves with the first response to `client` (which pipelined more behind an upgrade) once the subject has done
 * whatever it does with the rest: it serves a request completely between each barrier.
 */
async function firstResponse(attack: Attack, client: Collector): Promise<ParsedResponse> {
  const first = await client.response();
  await barrier(attack.app.port);
  await barrier(attack.app.port);
  return first;
}

/** The status lines after the first one: requests pipelined behind it that were answered. */
function laterStatuses(client: Collector): string[] {
  return (client.text.match(/HTTP\/1\.[01] \d{3}/g) ?? []).slice(1);
}

/**
 * Either `first` closes the connection and it really closes, or the request pipelined behind it got an answer of its
 * own. A kept-alive connection whose pipelined request is never read leaves the client hanging until the keep-alive
 * timeout (Node's parser stops at a request flagged as an upgrade, even one served as an ordinary request).
 */
async function assertNotLeftHanging(client: Collector, first: ParsedResponse): Promise<void> {
  if (closes(first)) {
    await client.ended;
    return;
  }
  assert.ok(
    client.isEnded || statusLineCount(client.text) >= 2,
    `the ${first.status} kept the connection alive (Connection: ${values(first, 'connection').join(', ')}) but the request pipelined behind it got no answer: the client hangs until the keep-alive timeout`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The attacks, per adapter.

for (const adapter of ADAPTERS) {
  /** Registers one attack: bounded, and followed by the engine and crash checks. */
  const attack = (name: string, body: (a: Attack) => Promise<void>): void => {
    test(name, opts, async () => {
      const incidentsBefore = incidents.length;
      const a = new Attack(adapter);
      await body(a);
      await a.settle(incidentsBefore);
    });
  };

  describe(`${adapter}: smuggling through an authorised upgrade the backend does not switch`, () => {
    attack(
      'backend 401 with a body: one response, and an authorised upgrade and GET pipelined behind it reach neither the backend nor the app',
      async (a) => {
        await a.start(({ socket }) =>
          socket.write(
            'HTTP/1.1 401 Refused\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nrefused',
          ),
        );
        const answer = await a.exchange(wsHandshake('/ws/chat', AUTH) + SMUGGLED_UPGRADE + SMUGGLED_GET);
        const response = parseResponse(answer);
        assert.equal(response.status, 401);
        assert.equal(response.body.toString('latin1'), 'refused', 'exactly the refusal body, then the close');
        assert.equal(
          statusLineCount(answer),
          1,
          `only one response may come back: ${JSON.stringify(answer)}`,
        );
        await a.backend.allClosed();
        assert.equal(a.backend.connections(), 1, 'a pipelined request opened a second backend connection');
        assert.equal(a.backend.receivedAfterHead(0).toString('latin1'), '', 'bytes followed the handshake');
        assert.deepEqual(a.saw(), ['GET /ws/chat'], 'a pipelined request reached the app');
      },
    );

    attack(
      'backend 200 followed by a fake 101 and a frame: only the 200 is relayed, no tunnel, nothing reaches the backend after it',
      async (a) => {
        const fake = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
        await a.start(({ socket }) =>
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${fake}\x81\x05hello`),
        );
        const answer = await a.exchange(wsHandshake('/ws/chat', AUTH) + SMUGGLED_UPGRADE);
        const response = parseResponse(answer);
        assert.equal(response.status, 200);
        assert.equal(response.body.toString('latin1'), 'ok', 'bytes past Content-Length were relayed');
        assert.ok(!SWITCHING.test(answer), `a 101 reached the client: ${JSON.stringify(answer)}`);
        await a.backend.allClosed();
        assert.equal(a.backend.connections(), 1);
        assert.equal(a.backend.receivedAfterHead(0).length, 0, 'client bytes were tunnelled after the 200');
      },
    );

    for (const [name, answer] of [
      ['naming another protocol (h2c)', switching101('', 'h2c') + H2_SETTINGS],
      [
        'without an Upgrade header',
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n\x81\x04evil',
      ],
    ] as const)
      attack(
        `a backend 101 ${name} is 502, never a tunnel, and early data never reaches the backend`,
        async (a) => {
          await a.start(({ socket }) => socket.write(Buffer.from(answer, 'latin1')));
          const bytes = await a.exchange(`${wsHandshake('/ws/chat', AUTH)}${PREFACE}`);
          assertGatewayError(bytes, 502);
          assert.ok(
            !bytes.includes('evil') && !bytes.includes(H2_SETTINGS),
            'backend bytes reached the client',
          );
          await a.backend.allClosed();
          assert.equal(a.backend.receivedAfterHead(0).length, 0, 'early data followed a rejected 101');
        },
      );

    attack(
      'early data sent while the app is still deciding is held until the backend’s 101, then delivered in order; no 101 comes first',
      async (a) => {
        const { gate, entered, release } = gateFirst();
        await a.start(() => undefined, gate);
        const client = await a.send(`${wsHandshake('/ws/chat', AUTH)}E1;`);
        await entered;
        await writeFully(client.socket, 'E2;');
        await barrier(a.app.port);
        assert.equal(a.backend.connections(), 0, 'the backend was dialled before the app decided');
        release();
        const conn = await a.backend.nextConn();
        await writeFully(client.socket, 'E3;');
        await barrier(a.app.port);
        assert.equal(
          Buffer.concat(conn.received).length,
          0,
          'client bytes reached the backend before its 101',
        );
        assert.equal(client.bytes.length, 0, 'the client got an answer before the backend gave one');
        conn.socket.write(switching101());
        assert.match(await client.head(), /^HTTP\/1\.1 101 /);
        assert.equal((await receivedAtLeast(conn, 9)).toString('latin1'), 'E1;E2;E3;');
      },
    );
  });

  describe(`${adapter}: bytes behind an upgrade the app refuses or does not route`, () => {
    attack(
      'an upgrade the app refuses (401), with an authorised upgrade and GET pipelined in the same write: one 401, then the close; nothing else served',
      async (a) => {
        await a.start();
        const answer = await a.exchange(wsHandshake('/ws/chat') + SMUGGLED_UPGRADE + SMUGGLED_GET);
        assert.equal(parseResponse(answer).status, 401);
        assert.equal(
          statusLineCount(answer),
          1,
          `only one response may come back: ${JSON.stringify(answer)}`,
        );
        assert.ok(!SWITCHING.test(answer));
        assert.equal(a.backend.connections(), 0, 'a pipelined request reached the backend');
        assert.deepEqual(a.saw(), ['GET /ws/chat'], 'a pipelined request reached the app');
      },
    );

    attack(
      'an upgrade the app refuses after an async decision: an authorised upgrade sent in a later write while it decides is never served',
      async (a) => {
        const { gate, entered, release } = gateFirst();
        await a.start(acceptAnything, gate);
        const client = await a.send(wsHandshake('/ws/chat'));
        await entered;
        await writeFully(client.socket, SMUGGLED_UPGRADE + SMUGGLED_GET);
        await barrier(a.app.port);
        release();
        const answer = (await client.ended).toString('latin1');
        assert.equal(parseResponse(answer).status, 401);
        assert.equal(
          statusLineCount(answer),
          1,
          `only one response may come back: ${JSON.stringify(answer)}`,
        );
        assert.equal(a.backend.connections(), 0, 'a request sent while the app decided reached the backend');
        assert.deepEqual(a.saw(), ['GET /ws/chat']);
      },
    );

    attack(
      'an authorised upgrade to a path the app does not route (404): what is pipelined behind it is never served around the auth step, and the client is not left hanging',
      async (a) => {
        await a.start();
        const client = await a.send(wsHandshake('/nope', AUTH) + SMUGGLED_UPGRADE_NO_AUTH + SMUGGLED_GET);
        const first = await firstResponse(a, client);
        assert.equal(first.status, 404);
        assert.ok(!SWITCHING.test(client.text));
        assert.equal(a.backend.connections(), 0, 'a pipelined request reached the backend');
        // Served at all, the unauthorised upgrade must have met the auth step.
        const later = laterStatuses(client);
        assert.ok(
          later.every((line) => line.endsWith('401')),
          `pipelined answers: ${later.join(', ')}`,
        );
        await assertNotLeftHanging(client, first);
      },
    );

    attack(
      'an upgrade to an app route for the same path (/ws/info) is answered by the app, never tunnelled; bytes behind it are never a request',
      async (a) => {
        await a.start();
        const answer = await a.exchange(wsHandshake('/ws/info', AUTH) + SMUGGLED_UPGRADE);
        const response = parseResponse(answer);
        assert.equal(response.status, 200);
        assert.equal(response.body.toString('latin1'), 'app info GET ');
        assert.equal(statusLineCount(answer), 1, JSON.stringify(answer));
        assert.equal(a.backend.connections(), 0);
        assert.deepEqual(a.saw(), ['GET /ws/info']);
      },
    );

    attack(
      'a client that leaves while the app is still deciding: no backend connection is made',
      async (a) => {
        const { gate, entered, release } = gateFirst();
        await a.start(acceptAnything, gate);
        const client = await a.send(wsHandshake('/ws/chat', AUTH));
        await entered;
        client.socket.resetAndDestroy();
        await barrier(a.app.port);
        release();
        await barrier(a.app.port);
        await barrier(a.app.port);
        assert.equal(a.backend.connections(), 0, 'the backend was dialled for a client that had left');
      },
    );
  });

  describe(`${adapter}: CL/TE tricks on upgrades (the app serves them as ordinary requests)`, () => {
    const parserRefuses: readonly (readonly [string, string])[] = [
      [
        'CL.TE (Content-Length and Transfer-Encoding: chunked)',
        `${wsHandshake('/ws/info', [...AUTH, ['Content-Length', '4'], ['Transfer-Encoding', 'chunked']])}0\r\n\r\n${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'TE.CL (Transfer-Encoding before Content-Length)',
        `${wsHandshake('/ws/info', [...AUTH, ['Transfer-Encoding', 'chunked'], ['Content-Length', '40']])}0\r\n\r\n${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'two different Content-Length headers',
        `${wsHandshake('/ws/info', [...AUTH, ['Content-Length', '4'], ['Content-Length', '5']])}abcde${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'two equal Content-Length headers',
        `${wsHandshake('/ws/info', [...AUTH, ['Content-Length', '5'], ['Content-Length', '5']])}abcde${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'Transfer-Encoding: chunked, identity',
        `${wsHandshake('/ws/info', [...AUTH, ['Transfer-Encoding', 'chunked, identity']])}0\r\n\r\n${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
    ];
    attack(
      'ambiguous framing next to an app route for the same path (CL.TE, TE.CL, duplicate CL, TE not ending in chunked) is refused before the app runs, nothing after it served',
      async (a) => {
        await a.start();
        for (const [name, request] of parserRefuses) {
          const answer = await a.exchange(request);
          assert.equal(parseResponse(answer).status, 400, `${name}: ${JSON.stringify(answer)}`);
          assert.equal(statusLineCount(answer), 1, `${name}: ${JSON.stringify(answer)}`);
        }
        assert.deepEqual(a.saw(), [], 'the app ran for a request the parser should have refused');
        assert.equal(a.backend.connections(), 0);
      },
    );

    /** Upgrades with a body: the app serves them (auth first); the tunnel route refuses them; bodies stay bodies. */
    const withBodies: readonly (readonly [string, string, number, string?])[] = [
      [
        'a GET upgrade to the tunnel with a Content-Length body holding a WebSocket frame',
        `${wsHandshake('/ws/chat', [...AUTH, ['Content-Length', '11']])}\x81\x85\x00\x00\x00\x00hello`,
        400,
      ],
      ['the same without credentials', `${wsHandshake('/ws/chat', [['Content-Length', '5']])}hello`, 401],
      [
        'a GET upgrade to the tunnel with a chunked body',
        `${wsHandshake('/ws/chat', [...AUTH, ['Transfer-Encoding', 'chunked']])}5\r\nhello\r\n0\r\n\r\n`,
        400,
      ],
      [
        'a GET upgrade to the tunnel with Transfer-Encoding: xchunked',
        `${wsHandshake('/ws/chat', [...AUTH, ['Transfer-Encoding', 'xchunked']])}`,
        400,
      ],
      [
        'a GET upgrade to the tunnel with Content-Length: 00',
        wsHandshake('/ws/chat', [...AUTH, ['Content-Length', '00']]),
        400,
      ],
      [
        'a POST upgrade to the app route whose body is an authorised upgrade request',
        `${rawRequest('POST /ws/info HTTP/1.1', [
          ['Host', 'front.example'],
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
          ['Content-Type', 'text/plain'],
          ['Content-Length', String(SMUGGLED_UPGRADE.length)],
          ...AUTH,
        ])}${SMUGGLED_UPGRADE}`,
        200,
        `app info POST ${SMUGGLED_UPGRADE}`,
      ],
    ];
    attack(
      'upgrades with a body meet the auth step, are never tunnelled, and their body never reaches the backend',
      async (a) => {
        await a.start();
        for (const [name, request, status, body] of withBodies) {
          const client = await a.send(request);
          const response = await client.response();
          assert.equal(response.status, status, `${name}: ${response.head}`);
          if (body !== undefined) assert.equal(response.body.toString('latin1'), body, name);
          assert.ok(!SWITCHING.test(client.text), `${name}: a 101 reached the client`);
          client.socket.destroy();
        }
        await barrier(a.app.port);
        assert.equal(a.backend.connections(), 0, 'an upgrade with a body reached the backend');
      },
    );

    for (const [name, request] of [
      [
        'a chunked GET upgrade with an unauthorised upgrade after its last chunk',
        `${wsHandshake('/ws/chat', [...AUTH, ['Transfer-Encoding', 'chunked']])}5\r\nhello\r\n0\r\n\r\n${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'a chunked POST upgrade to the app route with an unauthorised upgrade after its last chunk',
        `${rawRequest('POST /ws/info HTTP/1.1', [
          ['Host', 'front.example'],
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
          ['Content-Type', 'text/plain'],
          ['Transfer-Encoding', 'chunked'],
          ...AUTH,
        ])}5\r\nhello\r\n0\r\n\r\n${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
      [
        'a GET upgrade with a Content-Length body and an unauthorised upgrade after it',
        `${wsHandshake('/ws/chat', [...AUTH, ['Content-Length', '5']])}hello${SMUGGLED_UPGRADE_NO_AUTH}`,
      ],
    ] as const)
      attack(
        `${name}: the trailing request is never served around the auth step, and the client is not left hanging`,
        async (a) => {
          await a.start();
          const client = await a.send(request);
          const first = await firstResponse(a, client);
          assert.ok(!SWITCHING.test(client.text), 'a 101 reached the client');
          assert.equal(a.backend.connections(), 0, 'the trailing request reached the backend');
          const later = laterStatuses(client);
          assert.ok(
            later.every((line) => line.endsWith('401')),
            `trailing answers: ${later.join(', ')}`,
          );
          await assertNotLeftHanging(client, first);
        },
      );
  });

  describe(`${adapter}: header injection`, () => {
    for (const [name, value] of [
      ['CR LF', 'a%0d%0aX-Injected:%201'],
      ['U+010D U+010A (CR LF once written as latin1)', 'a%C4%8D%C4%8AX-Injected:%201'],
      ['a NUL', 'a%00X-Injected:%201'],
    ] as const)
      attack(
        `a headers function fed a decoded query parameter with ${name} never puts a header line on the backend request`,
        async (a) => {
          await a.start();
          const answer = await a.exchange(wsHandshake(`/ws/chat?room=${value}`, AUTH));
          assert.ok(!SWITCHING.test(answer), `tunnelled: ${JSON.stringify(answer.slice(0, 200))}`);
          assert.ok(parseResponse(answer).status >= 400, answer.slice(0, 200));
          await barrier(a.app.port);
          assert.equal(a.backend.connections(), 0, 'the handshake reached the backend');
        },
      );

    attack(
      'a percent-encoded CR LF in the path is forwarded still encoded, on one request line, adding no header',
      async (a) => {
        await a.start();
        const client = await a.send(
          wsHandshake('/ws/a%0d%0aX-Injected:%201%0d%0a%0d%0aGET%20/smuggled', AUTH),
        );
        assert.match(await client.head(), /^HTTP\/1\.1 101 /);
        const head = a.backend.conns[0]!.head;
        assert.equal(
          head.split('\r\n')[0],
          'GET /base/a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled HTTP/1.1',
        );
        assert.deepEqual(values(requestHeaderPairs(head), 'x-injected'), []);
      },
    );

    attack(
      'a bare CR, a NUL or an obs-fold in a client header is refused (400) before the app runs',
      async (a) => {
        await a.start();
        for (const extra of [
          ['X-Bad', 'a\rX-Injected: 1'],
          ['X-Bad', 'a\0b'],
          ['X-Fold', 'a\r\n X-Injected: 1'],
        ] as const) {
          const answer = await a.exchange(wsHandshake('/ws/chat', [...AUTH, extra]));
          assert.equal(parseResponse(answer).status, 400, JSON.stringify(extra));
        }
        assert.deepEqual(a.saw(), []);
        assert.equal(a.backend.connections(), 0);
      },
    );
  });

  describe(`${adapter}: hop-by-hop abuse`, () => {
    attack(
      'fields the client names in Connection (its auth header and X-Forwarded-For included) and the fixed hop-by-hop set never reach the backend; the app’s forwarding stays',
      async (a) => {
        await a.start();
        const request = rawRequest('GET /ws/chat HTTP/1.1', [
          ['Host', 'front.example'],
          ['Connection', 'Upgrade, X-Custom, X-Auth, X-Forwarded-For, X-Forwarded-Host'],
          ['Upgrade', 'websocket'],
          ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
          ['Sec-WebSocket-Version', '13'],
          ['X-Custom', 'secret-hop'],
          ['X-Forwarded-For', '6.6.6.6'],
          ['X-Forwarded-Host', 'evil.example'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Connection', 'keep-alive'],
          ['TE', 'trailers'],
          ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
          ...AUTH,
        ]);
        const client = await a.send(request);
        assert.match(await client.head(), /^HTTP\/1\.1 101 /);
        const head = a.backend.conns[0]!.head;
        const pairs = requestHeaderPairs(head);
        for (const name of ['x-custom', 'x-auth', 'keep-alive', 'proxy-connection', 'te', 'http2-settings'])
          assert.deepEqual(values(pairs, name), [], `${name} reached the backend`);
        assert.deepEqual(values(pairs, 'x-forwarded-for'), ['127.0.0.1']);
        assert.deepEqual(values(pairs, 'x-forwarded-host'), ['front.example']);
        assert.deepEqual(values(pairs, 'connection'), ['Upgrade']);
        assert.deepEqual(values(pairs, 'upgrade'), ['websocket']);
        assert.ok(!/secret-hop|6\.6\.6\.6|evil\.example/.test(head), head);
      },
    );

    attack('a header the backend names in its 101 Connection never reaches the client', async (a) => {
      await a.start(({ socket }) =>
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal\r\n' +
            'X-Internal: backend-secret\r\nKeep-Alive: timeout=5\r\nX-Public: shown\r\n\r\n',
        ),
      );
      const client = await a.send(wsHandshake('/ws/chat', AUTH));
      const response = parseResponse(`${await client.head()}\r\n\r\n`);
      assert.equal(response.status, 101);
      assert.ok(!response.head.includes('backend-secret'), response.head);
      assert.deepEqual(values(response, 'keep-alive'), []);
      assert.deepEqual(values(response, 'x-public'), ['shown']);
    });
  });

  describe(`${adapter}: h2c upgrades`, () => {
    const h2c = (auth: boolean): string =>
      rawRequest('GET /ws/chat HTTP/1.1', [
        ['Host', 'front.example'],
        ['Connection', 'Upgrade, HTTP2-Settings'],
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
        ...(auth ? AUTH : []),
      ]);

    attack(
      'an authorised h2c upgrade on the tunnel route is proxied as a plain GET without Upgrade or HTTP2-Settings; the pipelined preface never reaches the backend',
      async (a) => {
        await a.start();
        const answer = await a.exchange(h2c(true) + PREFACE + H2_SETTINGS);
        const response = parseResponse(answer);
        assert.equal(response.status, 200);
        assert.equal(response.body.toString('latin1'), PLAIN_BODY);
        assert.equal(statusLineCount(answer), 1, JSON.stringify(answer));
        assert.ok(!SWITCHING.test(answer));
        await a.backend.allClosed();
        assert.equal(a.backend.connections(), 1, 'the preface opened a backend connection');
        assertPlainRequest(a.backend.conns[0]!.head, ['http2-settings']);
        assert.ok(!/h2c|AAMAAABkAAQAAP__/i.test(a.backend.conns[0]!.head));
        assert.equal(a.backend.receivedAfterHead(0).length, 0, 'the preface reached the backend');
      },
    );

    attack(
      'an h2c upgrade without credentials is refused by the app; the backend never sees it',
      async (a) => {
        await a.start();
        const answer = await a.exchange(h2c(false) + PREFACE);
        assert.equal(parseResponse(answer).status, 401);
        assert.equal(statusLineCount(answer), 1);
        assert.equal(a.backend.connections(), 0);
      },
    );

    attack(
      'a backend answering 101 h2c to the plain-proxied h2c request opens no tunnel, and its HTTP/2 bytes never reach the client',
      async (a) => {
        await a.start(({ socket }) =>
          socket.write(Buffer.from(switching101('', 'h2c') + H2_SETTINGS, 'latin1')),
        );
        const answer = await a.exchange(h2c(true));
        assert.ok(!SWITCHING.test(answer), `a 101 reached the client: ${JSON.stringify(answer)}`);
        assert.ok(!answer.includes(H2_SETTINGS), 'HTTP/2 frames from the backend reached the client');
        assert.equal(parseResponse(answer).status, 502);
        await a.backend.allClosed();
        assert.equal(a.backend.receivedAfterHead(0).length, 0);
      },
    );
  });

  describe(`${adapter}: slow clients`, () => {
    attack(
      'a client dribbling its upgrade byte by byte reaches neither the app nor the backend before its head is complete, does not delay another tunnel, and still meets the auth step',
      async (a) => {
        await a.start();
        const handshake = Buffer.from(wsHandshake('/ws/dribble'), 'latin1');
        const slow = await a.client();
        for (const byte of handshake.subarray(0, -2)) {
          await writeFully(slow.socket, Buffer.from([byte]));
          await new Promise((resolve) => setImmediate(resolve));
        }
        const fast = await a.send(wsHandshake('/ws/fast', AUTH));
        assert.match(await fast.head(), /^HTTP\/1\.1 101 /);
        assert.deepEqual(a.saw(), ['GET /ws/fast'], 'the half-sent upgrade reached the app');
        assert.equal(a.backend.connections(), 1);
        assert.equal(slow.bytes.length, 0);
        await writeFully(slow.socket, handshake.subarray(-2));
        assert.equal(parseResponse(await slow.ended).status, 401);
        assert.equal(a.backend.connections(), 1, 'the dribbled upgrade reached the backend');
      },
    );

    for (const allowed of [false, true])
      attack(
        `a huge head sent after the upgrade while the app is still deciding is read only up to a bound; ${allowed ? 'once authorised it reaches the backend only after its 101, whole and in order' : 'the refusal (401) drops it and nothing is served'}`,
        async (a) => {
          const { gate, entered, release } = gateFirst();
          await a.start(allowed ? () => undefined : acceptAnything, gate);
          const client = await a.send(wsHandshake('/ws/gated', allowed ? AUTH : []));
          await entered;
          const junk = Buffer.from(
            `GET /ws/x HTTP/1.1\r\nHost: x\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(40_000)}`,
            'latin1',
          );
          client.socket.write(junk);
          await barrier(a.app.port);
          await barrier(a.app.port);
          const read = a.app.sockets[0]!.bytesRead;
          assert.ok(
            read < 1024 * 1024,
            `the server read ${read} of ${junk.length} bytes before the app decided`,
          );
          assert.equal(a.backend.connections(), 0);
          release();
          if (!allowed) {
            const answer = (await client.ended).toString('latin1');
            assert.equal(parseResponse(answer).status, 401);
            assert.equal(statusLineCount(answer), 1);
            assert.deepEqual(a.saw(), ['GET /ws/gated']);
            assert.equal(a.backend.connections(), 0);
            return;
          }
          const conn = await a.backend.nextConn();
          await barrier(a.app.port);
          assert.equal(
            Buffer.concat(conn.received).length,
            0,
            'client bytes reached the backend before its 101',
          );
          assert.equal(client.bytes.length, 0, 'the client got an answer before the backend gave one');
          conn.socket.write(switching101());
          assert.match(await client.head(), /^HTTP\/1\.1 101 /);
          const received = await receivedAtLeast(conn, junk.length);
          assert.ok(received.equals(junk), 'the held bytes were altered or reordered');
        },
      );
  });

  describe(`${adapter}: malformed request lines and paths`, () => {
    const DOT_SEGMENTS = [
      '/ws/../x',
      '/ws/%2e%2e/x',
      '/ws/%2E%2E/x',
      '/ws/.%2e/x',
      '/ws/%2e./x',
      '/ws/./x',
      '/ws/a/..',
      '/ws/a/%2e',
      '/ws/..?q=1',
      '/ws/..%2Fsecret',
      '/ws/..%5Csecret',
      '/ws/%5c..%5csecret',
      '/ws/dir\\..\\..\\secret',
      '/ws/..;/x',
      '/ws/%2e%2e%2f..%2fsecret?q=1',
      '/ws/%',
      '/ws/%zz',
    ];
    attack(
      'dot segments in every spelling and malformed escapes under the tunnel route are 400 with credentials, for upgrades and plain GETs alike',
      async (a) => {
        await a.start();
        const wrong: string[] = [];
        for (const path of DOT_SEGMENTS) {
          const upgrade = await a.status(wsHandshake(path, AUTH));
          const plain = await a.status(
            rawRequest(`GET ${path} HTTP/1.1`, [['Host', 'front.example'], ...AUTH]),
          );
          if (upgrade !== 400 || plain !== 400) wrong.push(`${path}: upgrade ${upgrade}, GET ${plain}`);
        }
        assert.deepEqual(wrong, []);
        await barrier(a.app.port);
        assert.equal(a.backend.connections(), 0);
      },
    );

    attack(
      'CR/LF, NUL and other raw bytes in the request-target are 400 and never reach the backend; %00 is forwarded still encoded',
      async (a) => {
        await a.start();
        // Node reads a request line cut by CR/LF as HTTP/0.9 (the app runs; the route refuses it as malformed).
        for (const target of [
          '/ws/a\r\nX-Injected: 1',
          '/ws/a\nX-Injected: 1',
          '/ws/a\0b',
          '/ws/a b',
          '/ws/caf\xe9',
        ])
          assert.equal(await a.status(wsHandshake(target, AUTH)), 400, JSON.stringify(target));
        await barrier(a.app.port);
        assert.equal(a.backend.connections(), 0);
        const client = await a.send(wsHandshake('/ws/a%00b', AUTH));
        assert.match(await client.head(), /^HTTP\/1\.1 (101|400) /);
        for (const conn of a.backend.conns)
          assert.equal(conn.head.split('\r\n')[0], 'GET /base/a%00b HTTP/1.1');
      },
    );

    attack(
      'an absolute-form target is never routed to the authority it names, with or without credentials',
      async (a) => {
        await a.start();
        const other = await fx.backend(acceptAnything);
        for (const auth of [AUTH, []]) {
          const status = await a.status(wsHandshake(`http://127.0.0.1:${other.port}/ws/chat`, auth));
          assert.ok(status >= 400, `answered ${status}`);
        }
        await barrier(a.app.port);
        assert.equal(other.connections(), 0, 'the authority in the request-target was dialled');
        assert.equal(a.backend.connections(), 0);
      },
    );

    attack('OPTIONS * with Upgrade is refused, never tunnelled', async (a) => {
      await a.start();
      const answer = await a.exchange(
        rawRequest('OPTIONS * HTTP/1.1', [
          ['Host', 'front.example'],
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
          ...AUTH,
        ]),
      );
      assert.ok(parseResponse(answer).status >= 400, answer.slice(0, 200));
      assert.equal(statusLineCount(answer), 1);
      assert.equal(a.backend.connections(), 0);
    });
  });

  describe(`${adapter}: response-head validation`, () => {
    for (const [name, answer] of [
      ['a bare CR injecting a header', switching101('X-A: a\rSet-Cookie: evil=1\r\n')],
      ['a head over 16 KiB', switching101(`X-Big: ${'a'.repeat(20_000)}\r\nX-After: evil\r\n`)],
      [
        'a malformed status line',
        'HTTP/1.1 1010 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      ],
    ] as const)
      attack(`a backend 101 with ${name} is 502 and nothing of it reaches the client`, async (a) => {
        await a.start(({ socket }) => socket.write(Buffer.from(`${answer}\x81\x04evil`, 'latin1')));
        const bytes = await a.exchange(wsHandshake('/ws/chat', AUTH));
        assertGatewayError(bytes, 502);
        assert.ok(
          !bytes.includes('evil'),
          `backend bytes reached the client: ${JSON.stringify(bytes.toString())}`,
        );
        await a.backend.allClosed();
      });

    /** A plain GET the route proxies on the app's own response, and an upgrade it proxies on the bridged one. */
    const plainRequests = [
      [
        'a plain GET',
        rawRequest('GET /ws/page HTTP/1.1', [['Host', 'front.example'], ['Connection', 'close'], ...AUTH]),
      ],
      [
        'an upgrade the route proxies as plain HTTP (Upgrade: foo)',
        rawRequest('GET /ws/page HTTP/1.1', [
          ['Host', 'front.example'],
          ['Upgrade', 'foo'],
          ['Connection', 'Upgrade'],
          ...AUTH,
        ]),
      ],
    ] as const;
    for (const [kind, request] of plainRequests) {
      for (const status of ['099', '000'])
        attack(
          `${kind}: backend status ${status} is a 502 and does not crash the process (uncaught ERR_HTTP_INVALID_STATUS_CODE)`,
          async (a) => {
            await a.start(({ socket }) =>
              socket.end(`HTTP/1.1 ${status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`),
            );
            const incidentsBefore = incidents.length;
            const answer = await a.exchange(request);
            await barrier(a.app.port);
            const crashes = incidents.slice(incidentsBefore);
            assert.equal(crashes.length, 0, `the process would have crashed: ${describeIncidents(crashes)}`);
            assert.equal(parseResponse(answer).status, 502, answer.slice(0, 200));
          },
        );

      attack(`${kind}: a NUL in the backend’s reason phrase never reaches the client`, async (a) => {
        await a.start(({ socket }) =>
          socket.end(
            Buffer.from('HTTP/1.1 200 O\0K\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi', 'latin1'),
          ),
        );
        const answer = await a.exchange(request);
        const head = answer.slice(0, answer.indexOf('\r\n\r\n'));
        assert.ok(!/[\0-\x08\x0a-\x1f\x7f]/.test(head.replace(/\r\n/g, '')), JSON.stringify(head));
        assert.match(answer, /^HTTP\/1\.1 (200|502) /);
      });
    }
  });

  describe(`${adapter}: plain-response framing and desync`, () => {
    attack(
      'a close-delimited backend response (Transfer-Encoding: gzip) on a kept-alive connection: the client can delimit it, or the connection closes after it',
      async (a) => {
        await a.start(({ socket }) =>
          socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nFIRST-BODY'),
        );
        const client = await a.send(rawRequest('GET /ws/a HTTP/1.1', [['Host', 'front.example'], ...AUTH]));
        await client.until((bytes) => bytes.includes('FIRST-BODY'), 'the first body');
        const response = parseResponse(client.bytes);
        const te = values(response, 'transfer-encoding').join(',').trim().toLowerCase();
        const delimited = te === '' ? values(response, 'content-length').length === 1 : /chunked$/.test(te);
        assert.ok(
          delimited || closes(response),
          `not self-delimited, kept alive: ${JSON.stringify(response.head)}`,
        );
        if (!delimited) await client.ended;
      },
    );

    attack(
      'a second, unsolicited backend response on a pooled connection never becomes the next client’s response',
      async (a) => {
        const reply = (body: string): string =>
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`;
        const poison = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPOISONED';
        let requests = 0;
        await a.start(({ socket }) => {
          const answer = (): void => {
            requests++;
            socket.write(requests === 1 ? reply('FIRST') + poison : reply(`SECOND-${requests}`));
          };
          answer();
          let seen = 0;
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            for (const heads = text.split('\r\n\r\n').length - 1; seen < heads; seen++) answer();
          });
        });
        const first = await a.send(
          rawRequest('GET /ws/first HTTP/1.1', [['Host', 'front.example'], ...AUTH]),
        );
        assert.equal((await first.response()).body.toString('latin1'), 'FIRST');
        await barrier(a.app.port);
        const second = await a.send(
          rawRequest('GET /ws/second HTTP/1.1', [['Host', 'front.example'], ...AUTH]),
        );
        const response = await second.response();
        assert.ok(!response.body.toString('latin1').includes('POISONED'), 'client B got the stray response');
        assert.match(response.body.toString('latin1'), /^SECOND-/);
      },
    );
  });

  describe(`${adapter}: very many headers and parameters`, () => {
    attack(
      'many headers (800) through the app: a Connection at the very end still strips what it names; 3000 are 431 before the app runs',
      async (a) => {
        await a.start();
        const many = Array.from({ length: 800 }, () => ['a', '1'] as const);
        const client = await a.send(
          wsHandshake('/ws/chat', [['X-Early', 'hop'], ...many, ...AUTH, ['Connection', 'X-Early']]),
        );
        assert.match(await client.head(), /^HTTP\/1\.1 101 /);
        const pairs = requestHeaderPairs(a.backend.conns[0]!.head);
        assert.deepEqual(values(pairs, 'x-early'), []);
        assert.equal(values(pairs, 'a').length, 800);
        const tooMany = Array.from({ length: 3000 }, () => ['a', '1'] as const);
        assert.equal(await a.status(wsHandshake('/ws/chat', [...tooMany, ...AUTH])), 431);
        assert.deepEqual(a.saw(), ['GET /ws/chat']);
        assert.equal(a.backend.connections(), 1);
      },
    );

    attack(
      'very many query parameters and path segments (prototype keys, 1000+ keys, repeated keys) neither crash nor bypass the auth step',
      async (a) => {
        await a.start();
        const queries = [
          `room=ok&${Array.from({ length: 1200 }, (_, i) => `p${i}=1`).join('&')}`,
          `${'room[a]=1&'.repeat(500)}__proto__[x-auth]=yes&constructor[prototype][x-auth]=yes&__proto__=x`,
          'room=a&room=b&'.repeat(400),
        ];
        for (const query of queries) {
          assert.equal(await a.status(wsHandshake(`/ws/q?${query}`)), 401, query.slice(0, 40));
          const status = await a.status(wsHandshake(`/ws/q?${query}`, AUTH));
          assert.ok(status === 101 || (status >= 400 && status < 500), `${query.slice(0, 40)}: ${status}`);
        }
        assert.equal(await a.status(wsHandshake(`/ws/${'a/'.repeat(4000)}x`)), 401);
        assert.equal(await a.status(wsHandshake(`/ws/${'a/'.repeat(4000)}x`, AUTH)), 101);
        assert.equal(({} as Record<string, unknown>)['x-auth'], undefined, 'Object.prototype was polluted');
        for (const conn of a.backend.conns) {
          const rooms = values(requestHeaderPairs(conn.head), 'x-room');
          assert.ok(rooms.length === 0 || (rooms.length === 1 && rooms[0] === 'ok'), JSON.stringify(rooms));
        }
      },
    );
  });
}

test('no uncaughtException, unhandledRejection or WstunnelWarning during the whole file', () => {
  assert.equal(incidents.length, 0, describeIncidents(incidents));
});
