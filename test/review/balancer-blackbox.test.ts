// Why: an independent black-box review of balancer:// targets (issue 5). Real gateways, adapters, ws echo servers and
// raw net servers on 127.0.0.1:0, real clients; waits are bounded loops over events (a timer only where the
// behaviour under test is a period: retry, health-check interval). Tests once marked `todo: 'bug: ...'` failed on the
// reviewed code and describe the defect; everything else passes and pins down what was checked and found sound.
// Tests whose names say "was a bug at daee52f" failed on that commit and pass since 87ccea0: they guard the fixes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Gateway, type GatewayOptions, startGateway } from '@wstunnel/cli';
import {
  type BalancerControl,
  type BalancerOptions,
  createWstunnel,
  type MemberEvent,
  type Rule,
  type Wstunnel,
  WstunnelConfigError,
  type WstunnelOptions,
} from '@wstunnel/core';
import * as expressTunnel from '@wstunnel/express';
import * as fastifyTunnel from '@wstunnel/fastify';
import * as koaTunnel from '@wstunnel/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import mount from 'koa-mount';
import { type AppBackend, get, type Reply, startAppBackend } from '../frameworks/support.ts';
import {
  type EchoBackend,
  type RawBackend,
  type RawScript,
  startEchoBackend,
  startRawBackend,
  switchingFor,
} from '../helpers/backends.ts';
import { type Cleanup, cleanupAfterEach } from '../helpers/cleanup.ts';
import { openClient, roundTrip } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  handshakeRequest,
  listen,
  rawConnect,
  readAll,
  readBytes,
  readHead,
  statusOf,
} from '../helpers/net.ts';

const defer: (...cleanups: Cleanup[]) => void = cleanupAfterEach();

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const TUNNEL_EVENTS = ['open', 'close', 'failed', 'refused', 'proxied', 'balancer'] as const;

/** Resolves on the next of `events` on `emitter`, or after `ms`. */
function nextEvent(emitter: EventEmitter, events: readonly string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const event of events) emitter.on(event, done);
  });
}

/** Awaits events of `emitter` until `condition` holds; fails after `ms` with `what`. */
async function until(
  condition: () => boolean,
  emitter: EventEmitter,
  what: string,
  ms = 3_000,
  events: readonly string[] = TUNNEL_EVENTS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    await nextEvent(emitter, events, left);
    // The engine reports before it finishes its own bookkeeping (a handshake leaves its set right after).
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A gateway in front of balancers, closed after the test. */
interface G {
  readonly gateway: Gateway;
  readonly port: number;
  readonly tunnel: Wstunnel;
  readonly events: MemberEvent[];
  pool(name?: string): BalancerControl;
  ws(path: string): string;
}

async function gw(
  balancers: Record<string, BalancerOptions>,
  options: {
    rules?: readonly Rule[];
    manager?: GatewayOptions['manager'];
    extra?: Partial<WstunnelOptions>;
  } = {},
): Promise<G> {
  const gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    tunnel: {
      rules: options.rules ?? [{ path: '/ws/', target: 'balancer://pool/' }],
      balancers,
      ...options.extra,
    },
    ...(options.manager && { manager: options.manager }),
  });
  defer(() => gateway.close(0));
  const port = Number(new URL(gateway.url).port);
  const events: MemberEvent[] = [];
  gateway.tunnel.on('balancer', (event) => events.push(event));
  return {
    gateway,
    port,
    tunnel: gateway.tunnel,
    events,
    pool: (name = 'pool') => {
      const balancer = gateway.tunnel.balancers.get(name);
      assert.ok(balancer, `balancer ${name}`);
      return balancer;
    },
    ws: (path) => `ws://127.0.0.1:${port}${path}`,
  };
}

async function echoes(count: number): Promise<EchoBackend[]> {
  const backends = await Promise.all(Array.from({ length: count }, () => startEchoBackend()));
  defer(...backends.map((backend) => () => backend.close()));
  return backends;
}

/** A raw backend that also keeps the sockets the gateway has not closed yet (FIN or reset), so a test sees them go. */
interface Raw extends RawBackend {
  readonly open: Set<Socket>;
  /** Emits 'change' whenever `open` changes. */
  readonly changes: EventEmitter;
}

async function raw(script: RawScript): Promise<Raw> {
  const backend = await startRawBackend(script);
  const open = new Set<Socket>();
  const changes = new EventEmitter();
  backend.server.on('connection', (socket: Socket) => {
    open.add(socket);
    changes.emit('change');
    const gone = (): void => {
      if (open.delete(socket)) changes.emit('change');
    };
    socket.on('end', gone);
    socket.on('close', gone);
  });
  defer(() => backend.close());
  return Object.assign(backend, { open, changes });
}

/** Awaits until the gateway has closed every connection it made to `backend`. */
function allClosed(backend: Raw, what = 'member sockets to close'): Promise<void> {
  return until(() => backend.open.size === 0, backend.changes, what, 2_000, ['change']);
}

/** A member that answers a correct 101 and then echoes every byte it gets, raw (held early bytes included). */
function echo101(extra = ''): RawScript {
  return (socket, head, rest) => {
    socket.write(switchingFor(head, extra));
    if (rest.length > 0) socket.write(rest);
    socket.on('data', (chunk: Buffer) => {
      if (!socket.destroyed) socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  };
}

const resets: RawScript = (socket) => socket.resetAndDestroy();

/** A raw handshake: what the client got up to the end of the response head; the socket is destroyed after the test. */
async function handshake(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  early: Buffer | string = '',
): Promise<{ socket: Socket; head: string; rest: Buffer; status: number }> {
  const socket = await rawConnect(port);
  defer(() => void socket.destroy());
  socket.on('error', () => undefined);
  socket.write(Buffer.concat([Buffer.from(handshakeRequest(path, headers, port)), Buffer.from(early)]));
  const { head, rest } = await readHead(socket);
  return { socket, head, rest, status: statusOf(head) };
}

/** Sends a handshake that must be refused and resolves with every byte the client got before the gateway closed. */
async function refusal(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  early = '',
): Promise<string> {
  const socket = await rawConnect(port);
  defer(() => void socket.destroy());
  const all = readAll(socket);
  socket.write(handshakeRequest(path, headers, port) + early);
  return (await all).toString('latin1');
}

/** Opens and closes `count` handshakes one after the other; each tunnel is over (busy 0) before the next. */
async function spread(
  g: G,
  count: number,
  path = '/ws/x',
  headers: (i: number) => Record<string, string> = () => ({}),
) {
  for (let i = 0; i < count; i++) {
    const baseline = g.tunnel.size;
    const { socket, status } = await handshake(g.port, path, headers(i));
    assert.equal(status, 101);
    socket.destroy();
    await until(() => g.tunnel.size === baseline, g.tunnel, 'the tunnel to close');
  }
}

/** Like spread, and says which backend took each handshake. */
async function sequence(
  g: G,
  backends: readonly EchoBackend[],
  count: number,
  path = '/ws/x',
): Promise<number[]> {
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    const before = counts(backends);
    await spread(g, 1, path);
    order.push(counts(backends).findIndex((n, at) => n > before[at]!));
  }
  return order;
}

const counts = (backends: readonly EchoBackend[]): number[] =>
  backends.map((backend) => backend.requests.length);
const busy = (balancer: BalancerControl): number[] =>
  balancer.snapshot().members.map((member) => member.busy);
const statuses = (balancer: BalancerControl): string[] =>
  balancer.snapshot().members.map((member) => member.status);
const httpCount = (text: string): number => text.match(/HTTP\/1\.[01] \d{3}/g)?.length ?? 0;

const members = (backends: readonly { origin: string }[], extra: (i: number) => object = () => ({})) =>
  backends.map((backend, i) => ({ url: backend.origin, name: `m${i}`, ...extra(i) }));

// ---------------------------------------------------------------------------------------------------------------
// Distribution
// ---------------------------------------------------------------------------------------------------------------

describe('distribution follows the weights', () => {
  test('byrequests 3:1 over 40 sequential tunnels: exactly 30/10, never two in a row to the light member', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { members: members(backends, (i) => ({ weight: [3, 1][i] })) } });
    const order = await sequence(g, backends, 40);
    assert.deepEqual(counts(backends), [30, 10]);
    assert.deepEqual(
      g
        .pool()
        .snapshot()
        .members.map((m) => m.chosen),
      [30, 10],
    );
    // Smooth weighted round-robin: the light member is never picked twice in a row.
    assert.doesNotMatch(order.join(''), /11/);
  });

  test('fractional weights (Apache loadfactor is a decimal): 1.5 vs 1 gives 3:2', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { members: members(backends, (i) => ({ weight: [1.5, 1][i] })) } });
    await spread(g, 20);
    assert.deepEqual(counts(backends), [12, 8]);
  });

  test('bybusyness with idle members falls back to the byrequests credit, so weights 3:1 hold (tolerance 1)', async () => {
    const backends = await echoes(2);
    const g = await gw({
      pool: { method: 'bybusyness', members: members(backends, (i) => ({ weight: [3, 1][i] })) },
    });
    await spread(g, 40);
    const [a, b] = counts(backends);
    assert.ok(Math.abs(a! - 30) <= 1 && Math.abs(b! - 10) <= 1, `${a}/${b}`);
  });

  test('bybusyness with 50 parallel tunnels over 3 members: 17/17/16, busy returns to 0 whichever side closes', async () => {
    const backends = await echoes(3);
    const g = await gw({ pool: { method: 'bybusyness', members: members(backends) } });
    const clients = await Promise.all(Array.from({ length: 50 }, () => openClient(g.ws('/ws/p'))));
    defer(() => {
      for (const client of clients) client.terminate();
    });
    assert.deepEqual(
      counts(backends).sort((x, y) => x - y),
      [16, 17, 17],
    );
    assert.deepEqual(
      busy(g.pool()).sort((x, y) => x - y),
      [16, 17, 17],
    );
    assert.equal(g.tunnel.openTunnels, 50);
    // Half closed by the clients, the rest by the backends.
    for (const client of clients.slice(0, 25)) client.close();
    for (const backend of backends) for (const socket of backend.wss.clients) socket.terminate();
    await until(() => g.tunnel.size === 0 && busy(g.pool()).every((n) => n === 0), g.tunnel, 'busy 0');
    assert.deepEqual(busy(g.pool()), [0, 0, 0]);
    assert.equal(
      g
        .pool()
        .snapshot()
        .members.reduce((sum, m) => sum + m.chosen, 0),
      50,
    );
  });

  test('bytraffic 3:1: with equal traffic per tunnel the heavy member gets about three times the tunnels (±3)', async () => {
    const backends = await echoes(2);
    const g = await gw({
      pool: { method: 'bytraffic', members: members(backends, (i) => ({ weight: [3, 1][i] })) },
    });
    for (let i = 0; i < 40; i++) {
      const client = await openClient(g.ws('/ws/t'));
      await roundTrip(client, Buffer.alloc(2_000, 1));
      const ended = once(g.tunnel, 'close');
      client.terminate();
      await ended;
    }
    const [a, b] = counts(backends);
    assert.ok(Math.abs(a! - 30) <= 3 && Math.abs(b! - 10) <= 3, `${a}/${b}`);
    const bytes = g
      .pool()
      .snapshot()
      .members.map((m) => m.bytes);
    assert.ok(bytes[0]! > 2 * bytes[1]!, `bytes ${bytes}`);
  });

  test('hash on a header, weights 3:1 over 200 keys: the heavy member holds 65-85 % and every key is stable', async () => {
    const backends = await echoes(2);
    const g = await gw({
      pool: {
        method: { hash: 'header', name: 'X-Key' },
        members: members(backends, (i) => ({ weight: [3, 1][i] })),
      },
    });
    const where = new Map<string, number>();
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < (round === 0 ? 200 : 40); k++) {
        const before = counts(backends);
        const { socket } = await handshake(g.port, '/ws/h', { 'X-Key': `key-${k}` });
        socket.destroy();
        const at = counts(backends).findIndex((n, i) => n > before[i]!);
        if (round === 0) where.set(`key-${k}`, at);
        else assert.equal(at, where.get(`key-${k}`), `key-${k} moved`);
        await until(() => g.tunnel.size === 0, g.tunnel, 'close');
      }
    }
    const heavy = [...where.values()].filter((at) => at === 0).length;
    assert.ok(heavy >= 130 && heavy <= 170, `heavy member got ${heavy} of 200 keys`);
  });

  test('hash: taking a member out moves only its keys; putting it back restores them', async () => {
    const backends = await echoes(3);
    const g = await gw({ pool: { method: { hash: 'cookie', name: 'sid' }, members: members(backends) } });
    const map = async (): Promise<number[]> => {
      const result: number[] = [];
      for (let k = 0; k < 45; k++) {
        const before = counts(backends);
        const { socket } = await handshake(g.port, '/ws/h', { Cookie: `a=1; sid=s${k}` });
        socket.destroy();
        result.push(counts(backends).findIndex((n, i) => n > before[i]!));
        await until(() => g.tunnel.size === 0, g.tunnel, 'close');
      }
      return result;
    };
    const first = await map();
    assert.ok(new Set(first).size === 3, 'keys spread over the three members');
    g.pool().set('m1', { status: { disabled: true } });
    const without = await map();
    for (let k = 0; k < 45; k++) {
      if (first[k] !== 1) assert.equal(without[k], first[k], `s${k} moved though its member stayed`);
      else assert.notEqual(without[k], 1);
    }
    g.pool().set('m1', { status: { disabled: false } });
    assert.deepEqual(await map(), first);
  });

  test('hash without the key falls back to byrequests; hash on the address keeps one client on one member', async () => {
    const backends = await echoes(2);
    const g = await gw(
      {
        pool: { method: { hash: 'header', name: 'x-user' }, members: members(backends) },
        addr: { method: { hash: 'address' }, members: members(backends) },
      },
      {
        rules: [
          { path: '/ws/', target: 'balancer://pool/' },
          { path: '/addr/', target: 'balancer://addr/' },
        ],
      },
    );
    await spread(g, 6);
    assert.deepEqual(counts(backends), [3, 3]);
    await spread(g, 6, '/addr/x');
    const after = counts(backends);
    assert.ok(after[0] === 9 || after[1] === 9, `address hash spread one client: ${after}`);
    assert.equal(g.pool('addr').snapshot().method, 'hash(address)');
    assert.equal(g.pool().snapshot().method, 'hash(header x-user)');
  });

  test('a custom strategy sees only the usable members of the lowest lbset; undefined gives 503', async () => {
    const backends = await echoes(3);
    const seen: string[][] = [];
    let answer: 'first' | 'none' = 'first';
    const g = await gw({
      pool: {
        members: members(backends, (i) => ({ lbset: [0, 0, 1][i] })),
        method: (candidates) => {
          seen.push(candidates.map((m) => m.name));
          return answer === 'first' ? candidates[0] : undefined;
        },
      },
    });
    g.pool().set('m0', { status: { stopped: true } });
    await spread(g, 1);
    assert.deepEqual(seen.at(-1), ['m1']);
    answer = 'none';
    const response = await refusal(g.port, '/ws/x');
    assert.equal(statusOf(response), 503);
    assert.deepEqual(busy(g.pool()), [0, 0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Member states: lbset, spares, standbys, disabled/stopped, ignoreErrors, retry
// ---------------------------------------------------------------------------------------------------------------

describe('member states', () => {
  test('lbset: only the lowest set is used; a higher one only when the lower has nobody usable', async () => {
    const backends = await echoes(3);
    const g = await gw({ pool: { members: members(backends, (i) => ({ lbset: [1, 0, 1][i] })) } });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [0, 4, 0]);
    g.pool().set('m1', { status: { disabled: true } });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [2, 4, 2]);
    g.pool().set('m1', { status: { disabled: false } });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [2, 6, 2]);
    // Moving a member to a lower set at runtime makes it the only one used.
    g.pool().set('m2', { lbset: 0 });
    g.pool().set('m1', { lbset: 5 });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [2, 6, 4]);
  });

  test('lbset failover within one handshake: the dead lbset-0 member is skipped for lbset 1, one 101', async () => {
    const [live] = await echoes(1);
    const g = await gw({
      pool: {
        members: [
          { url: `ws://127.0.0.1:${await deadPort()}`, name: 'dead', lbset: 0 },
          { url: live!.origin, name: 'live', lbset: 1 },
        ],
      },
    });
    const { status, head } = await handshake(g.port, '/ws/x');
    assert.equal(status, 101);
    assert.equal(httpCount(head), 1);
    assert.deepEqual(statuses(g.pool()), ['E', 'Ok']);
  });

  test('hot spares replace unusable members one for one, in declaration order, within their lbset', async () => {
    const backends = await echoes(5);
    const g = await gw({
      pool: {
        members: members(backends, (i) => ({
          status: { spare: i >= 2 && i <= 3 },
          lbset: i === 4 ? 1 : 0,
        })),
      },
    });
    // m0, m1 regular; m2, m3 spares; m4 a regular member of lbset 1.
    await spread(g, 4);
    assert.deepEqual(counts(backends), [2, 2, 0, 0, 0]);
    g.pool().set('m0', { status: { stopped: true } });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [2, 4, 2, 0, 0], 'one unusable member: the first spare only');
    g.pool().set('m1', { status: { disabled: true } });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [2, 4, 4, 2, 0], 'two unusable: both spares, lbset 1 untouched');
  });

  test('a spare stands in for a member in error after a failed handshake', async () => {
    const backends = await echoes(2);
    const g = await gw({
      pool: {
        members: [
          { url: `ws://127.0.0.1:${await deadPort()}`, name: 'dead' },
          { url: backends[0]!.origin, name: 'regular' },
          { url: backends[1]!.origin, name: 'spare', status: { spare: true } },
        ],
      },
    });
    await spread(g, 6);
    assert.equal(statuses(g.pool())[0], 'E');
    assert.ok(counts(backends)[1]! >= 2, `spare used while dead is in error: ${counts(backends)}`);
  });

  test('a hot standby is used only when no regular member or spare is usable', async () => {
    const backends = await echoes(3);
    const g = await gw({
      pool: {
        members: [
          { url: backends[0]!.origin, name: 'main' },
          { url: backends[1]!.origin, name: 'spare', status: { spare: true } },
          { url: backends[2]!.origin, name: 'standby', status: { standby: true } },
        ],
      },
    });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [2, 0, 0]);
    g.pool().set('main', { status: { stopped: true } });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [2, 2, 0]);
    g.pool().set('spare', { status: { disabled: true } });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [2, 2, 2]);
    g.pool().set('main', { status: { stopped: false } });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [4, 2, 2]);
    assert.equal(g.pool().snapshot().members[2]!.status, 'H');
  });

  test('Apache: a hot standby of lbset 0 is used before the members of lbset 1 (standbys per lbset; was a bug at daee52f)', async () => {
    const backends = await echoes(3);
    const g = await gw({
      pool: {
        members: [
          { url: backends[0]!.origin, name: 'main0', lbset: 0, status: { stopped: true } },
          { url: backends[1]!.origin, name: 'standby0', lbset: 0, status: { standby: true } },
          { url: backends[2]!.origin, name: 'main1', lbset: 1 },
        ],
      },
    });
    await spread(g, 2);
    assert.deepEqual(counts(backends), [0, 2, 0]);
  });

  test('Apache: a draining member counts as unusable, so a spare replaces it (2.4.34+; was a bug at daee52f)', async () => {
    const backends = await echoes(3);
    const g = await gw({
      pool: {
        members: [
          { url: backends[0]!.origin, name: 'draining', status: { draining: true } },
          { url: backends[1]!.origin, name: 'regular' },
          { url: backends[2]!.origin, name: 'spare', status: { spare: true } },
        ],
      },
    });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [0, 2, 2]);
  });

  test('disabled and stopped members are never chosen, not even by their sticky route (without noFailover)', async () => {
    const backends = await echoes(3);
    const g = await gw({
      pool: {
        sticky: 'R',
        members: members(backends, (i) => ({
          route: `r${i}`,
          status: i === 0 ? { disabled: true } : i === 1 ? { stopped: true } : {},
        })),
      },
    });
    await spread(g, 3, '/ws/x', (i) => ({ Cookie: `R=.r${i % 2}` }));
    await spread(g, 1, '/ws/x?R=x.r0');
    assert.deepEqual(counts(backends), [0, 0, 4]);
    assert.deepEqual(statuses(g.pool()), ['D', 'S', 'Ok']);
  });

  test('ignoreErrors: a member that keeps failing is never put in error and keeps being tried', async () => {
    const [live] = await echoes(1);
    const failing = await raw(resets);
    const g = await gw({
      pool: {
        members: [
          { url: failing.origin, name: 'flaky', status: { ignoreErrors: true } },
          { url: live!.origin, name: 'live' },
        ],
      },
    });
    for (let i = 0; i < 6; i++) {
      const { status } = await handshake(g.port, '/ws/x');
      assert.equal(status, 101);
    }
    assert.ok(failing.connections >= 3, `flaky tried ${failing.connections} times`);
    const flaky = g.pool().snapshot().members[0]!;
    assert.equal(flaky.status, 'I');
    assert.equal(flaky.inErrorUntil, null);
    assert.ok(flaky.errors >= 3);
    assert.equal(
      g.events.filter((e) => e.kind === 'error').length,
      0,
      'no error event for an ignoreErrors member',
    );
  });

  test('retry: an errored member is skipped for its retry time, then chosen again (retry 50 ms; retry 0 at once)', async () => {
    const [live] = await echoes(1);
    let refuseNext = true;
    const flaky = await raw((socket, head, rest) => {
      if (refuseNext) {
        refuseNext = false;
        socket.resetAndDestroy();
      } else echo101()(socket, head, rest);
    });
    const g = await gw({
      pool: {
        members: [
          { url: flaky.origin, name: 'flaky', retry: 50 },
          { url: live!.origin, name: 'live' },
        ],
      },
    });
    const errored = Date.now();
    await spread(g, 1);
    assert.equal(flaky.connections, 1);
    assert.deepEqual(
      g.events.map((e) => [e.member, e.kind]),
      [['flaky', 'error']],
    );
    const until50 = Date.parse(g.pool().snapshot().members[0]!.inErrorUntil ?? '');
    assert.ok(until50 - errored >= 40 && until50 - errored <= 1_000, 'inErrorUntil is about retry ms ahead');
    await spread(g, 3);
    assert.equal(flaky.connections, 1, 'not tried while in error');
    // The retry period is the behaviour under test: wait it out.
    await delay(70);
    assert.deepEqual(statuses(g.pool()), ['Ok', 'Ok']);
    await spread(g, 4);
    assert.ok(flaky.connections >= 2, 'tried again after retry');

    // retry 0: put back at once.
    refuseNext = true;
    const g0 = await gw({
      pool: {
        members: [
          { url: flaky.origin, name: 'flaky', retry: 0 },
          { url: live!.origin, name: 'live' },
        ],
      },
    });
    const before = flaky.connections;
    await spread(g0, 4);
    assert.ok(flaky.connections - before >= 2, 'retry 0: the member is chosen again right away');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------------------------------

describe('failover before anything reaches the client', () => {
  test('failOnStatus with a 100 KiB body: one response (the 101), no byte of the refusal, early bytes once and in order', async () => {
    const body = 'x'.repeat(100 * 1024);
    const busyMember = await raw((socket) =>
      socket.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
    );
    const chunked = await raw((socket) =>
      socket.write('HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nyyyyy\r\n'),
    );
    const good = await raw(echo101());
    const g = await gw({
      pool: {
        failOnStatus: [502, 503],
        members: [
          { url: busyMember.origin, name: 'busy' },
          { url: chunked.origin, name: 'chunked' },
          { url: good.origin, name: 'good' },
        ],
      },
    });
    const { socket, head, rest } = await handshake(g.port, '/ws/x', {}, 'EARLY-1|');
    assert.equal(statusOf(head), 101);
    socket.write('LATER-2|');
    const echoed = await readBytes(socket, 'EARLY-1|LATER-2|'.length, rest);
    assert.equal(echoed.toString(), 'EARLY-1|LATER-2|');
    assert.equal(httpCount(head), 1);
    assert.doesNotMatch(head + echoed.toString('latin1'), /xxx|yyy|503|502/);
    assert.equal(Buffer.concat(good.bodies[0]!).toString(), 'EARLY-1|LATER-2|');
    assert.deepEqual(busyMember.bodies, [[]], 'a member that failed got no client byte');
    assert.deepEqual(chunked.bodies, [[]]);
    assert.deepEqual(statuses(g.pool()), ['E', 'E', 'Ok']);
    // Both failed members' connections are closed by the gateway.
    await allClosed(busyMember);
    await allClosed(chunked);
  });

  test('client bytes sent while each member is still deciding reach the member that answers, exactly once, in order', async () => {
    const firstGot = Promise.withResolvers<void>();
    const firstGo = Promise.withResolvers<void>();
    const secondGot = Promise.withResolvers<void>();
    const secondGo = Promise.withResolvers<void>();
    const first = await raw((socket) => {
      firstGot.resolve();
      void firstGo.promise.then(() => socket.resetAndDestroy());
    });
    const second = await raw((socket, head, rest) => {
      secondGot.resolve();
      void secondGo.promise.then(() => echo101()(socket, head, rest));
    });
    const g = await gw({ pool: { members: [{ url: first.origin }, { url: second.origin }] } });
    const socket = await rawConnect(g.port);
    defer(() => void socket.destroy());
    const headPromise = readHead(socket);
    socket.write(`${handshakeRequest('/ws/x', {}, g.port)}A`);
    await firstGot.promise;
    socket.write('B');
    socket.write('C');
    firstGo.resolve();
    await secondGot.promise;
    socket.write('D');
    secondGo.resolve();
    const { head, rest } = await headPromise;
    assert.equal(statusOf(head), 101);
    socket.write('E');
    const echoed = await readBytes(socket, 5, rest);
    assert.equal(echoed.toString(), 'ABCDE');
    assert.equal(Buffer.concat(second.bodies[0]!).toString(), 'ABCDE');
    assert.deepEqual(first.bodies, [[]]);
  });

  test('held early bytes beyond 64 KiB (the client is paused) survive a failover intact', async () => {
    const first = await raw(resets);
    const second = await raw(echo101());
    const g = await gw({ pool: { members: [{ url: first.origin }, { url: second.origin }] } });
    const early = Buffer.alloc(200 * 1024);
    for (let i = 0; i < early.length; i++) early[i] = (i * 7) & 0xff;
    const { head, rest, socket } = await handshake(g.port, '/ws/x', {}, early);
    assert.equal(statusOf(head), 101);
    const echoed = await readBytes(socket, early.length, rest);
    assert.ok(echoed.equals(early), 'the early bytes came back unchanged');
    assert.equal(first.connections, 1);
  });

  test('maxAttempts bounds the members tried (counted on each backend): default members-1, 1, 0, and more than members', async () => {
    const dead = await Promise.all(Array.from({ length: 4 }, () => raw(resets)));
    const total = (): number => dead.reduce((sum, backend) => sum + backend.connections, 0);
    const cases: [number | undefined, number][] = [
      [undefined, 4],
      [1, 2],
      [0, 1],
      [10, 4],
    ];
    for (const [maxAttempts, expected] of cases) {
      const before = total();
      const g = await gw({
        pool: {
          ...(maxAttempts !== undefined && { maxAttempts }),
          members: dead.map((d) => ({ url: d.origin })),
        },
      });
      const response = await refusal(g.port, '/ws/x');
      assert.equal(statusOf(response), 503, `maxAttempts ${maxAttempts}`);
      assert.equal(httpCount(response), 1);
      assert.equal(total() - before, expected, `maxAttempts ${maxAttempts}: members tried`);
      await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
      assert.ok(busy(g.pool()).every((n) => n === 0));
    }
  });

  test('forceRecovery: all members in error are tried again (default); with forceRecovery false the 503 needs no dial', async () => {
    const dead = await Promise.all(Array.from({ length: 2 }, () => raw(resets)));
    const total = (): number => dead.reduce((sum, backend) => sum + backend.connections, 0);
    const recovering = await gw({ pool: { members: dead.map((d) => ({ url: d.origin })) } });
    assert.equal(statusOf(await refusal(recovering.port, '/ws/x')), 503);
    assert.equal(total(), 2);
    assert.deepEqual(statuses(recovering.pool()), ['E', 'E']);
    assert.equal(statusOf(await refusal(recovering.port, '/ws/x')), 503);
    assert.equal(total(), 4, 'forced recovery dialled both again');
    const strict = await gw({
      pool: { forceRecovery: false, members: dead.map((d) => ({ url: d.origin })) },
    });
    assert.equal(statusOf(await refusal(strict.port, '/ws/x')), 503);
    assert.equal(total(), 6);
    assert.equal(statusOf(await refusal(strict.port, '/ws/x')), 503);
    assert.equal(total(), 6, 'no dial while every member is in error');
  });

  test('a single-member balancer whose member is down answers 503 (not 502), once, and leaks nothing', async () => {
    const g = await gw({ pool: { members: [{ url: `ws://127.0.0.1:${await deadPort()}`, name: 'only' }] } });
    const failures: unknown[] = [];
    g.tunnel.on('failed', (error) => failures.push(error));
    const response = await refusal(g.port, '/ws/x', {}, 'early');
    assert.equal(statusOf(response), 503);
    assert.equal(httpCount(response), 1);
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0]);
    assert.equal(g.pool().snapshot().members[0]!.errors, 1);
    assert.equal((failures[0] as { code?: string }).code, 'ERR_WSTUNNEL_NO_MEMBER');
  });

  test('failOnStatus on the last attempt: that member answer reaches the client as it is, once (README)', async () => {
    const answer =
      (body: string): RawScript =>
      (socket) =>
        socket.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const first = await raw(answer('first-body'));
    const second = await raw(answer('second-body'));
    const g = await gw({
      pool: { failOnStatus: [500], members: [{ url: first.origin }, { url: second.origin }] },
    });
    const response = await refusal(g.port, '/ws/x');
    assert.equal(httpCount(response), 1, response);
    assert.equal(statusOf(response), 500);
    assert.match(response, /second-body$/);
    assert.doesNotMatch(response, /first-body/);
    assert.deepEqual(statuses(g.pool()), ['E', 'E']);
  });

  test('the last attempt is also the one with no member left: a single member failOnStatus answer or failOnTimeout 504 reaches the client', async () => {
    const only = await raw((socket) =>
      socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 11\r\n\r\nonly-member'),
    );
    const silent = await raw(() => undefined);
    const g = await gw(
      {
        pool: { failOnStatus: [500], members: [{ url: only.origin }] },
        three: {
          failOnStatus: [500],
          maxAttempts: 10,
          members: [
            { url: only.origin, name: 'a' },
            { url: only.origin, name: 'b' },
            { url: only.origin, name: 'c' },
          ],
        },
        slow: { failOnTimeout: true, members: [{ url: silent.origin, timeout: 50 }] },
      },
      {
        rules: [
          { path: '/ws/', target: 'balancer://pool/' },
          { path: '/three/', target: 'balancer://three/' },
          { path: '/slow/', target: 'balancer://slow/' },
        ],
      },
    );
    const results: string[] = [];
    for (const path of ['/ws/x', '/three/x', '/slow/x']) {
      const response = await refusal(g.port, path);
      results.push(`${path} ${statusOf(response)}${/only-member$/.test(response) ? ' +body' : ''}`);
    }
    assert.deepEqual(results, ['/ws/x 500 +body', '/three/x 500 +body', '/slow/x 504']);
  });

  test('members that reset or close mid-way through their 101 head are failed over; the partial head never leaks', async () => {
    const partialReset = await raw((socket) => {
      socket.write('HTTP/1.1 101 Switching Pro', () => socket.resetAndDestroy());
    });
    const partialClose = await raw((socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n', () => socket.destroy());
    });
    const good = await raw(echo101('X-Good: yes\r\n'));
    const g = await gw({
      pool: {
        members: [
          { url: partialReset.origin, name: 'reset' },
          { url: partialClose.origin, name: 'close' },
          { url: good.origin, name: 'good' },
        ],
      },
    });
    const { head, socket, rest } = await handshake(g.port, '/ws/x');
    assert.equal(statusOf(head), 101);
    assert.equal(httpCount(head), 1);
    assert.match(head, /x-good: yes/i);
    socket.write('ping');
    assert.equal((await readBytes(socket, 4, rest)).toString(), 'ping');
    assert.deepEqual(statuses(g.pool()), ['E', 'E', 'Ok']);
  });

  test('an answer that is neither failed over nor a 101 is relayed once, and the member is not put in error', async () => {
    const refusing = await raw((socket) =>
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nConnection: close\r\n\r\nno way'),
    );
    const [live] = await echoes(1);
    const g = await gw({
      pool: {
        failOnStatus: [503],
        members: [
          { url: refusing.origin, name: 'r' },
          { url: live!.origin, name: 'l' },
        ],
      },
    });
    const response = await refusal(g.port, '/ws/x');
    assert.equal(statusOf(response), 403);
    assert.equal(httpCount(response), 1);
    assert.match(response, /no way$/);
    assert.deepEqual(statuses(g.pool()), ['Ok', 'Ok']);
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0, 0]);
    assert.equal(live!.requests.length, 0);
  });

  test('failOnTimeout off: a silent member gives 504 and stays usable; on: the next member is tried', async () => {
    const silent = await raw(() => undefined);
    const [live] = await echoes(1);
    const list = [
      { url: silent.origin, name: 'silent', timeout: 100 },
      { url: live!.origin, name: 'live' },
    ];
    const off = await gw({ pool: { members: list } });
    const response = await refusal(off.port, '/ws/x');
    assert.equal(statusOf(response), 504);
    assert.deepEqual(statuses(off.pool()), ['Ok', 'Ok']);
    const on = await gw({ pool: { failOnTimeout: true, members: list } });
    const { status } = await handshake(on.port, '/ws/x');
    assert.equal(status, 101);
    assert.deepEqual(statuses(on.pool()), ['E', 'Ok']);
  });

  test('the client leaving while the second member is deciding: both backend sockets closed, size and busy 0, no error', async () => {
    const first = await raw(resets);
    const reached = Promise.withResolvers<void>();
    const silent = await raw(() => reached.resolve());
    const g = await gw({
      pool: {
        members: [
          { url: first.origin, name: 'reset' },
          { url: silent.origin, name: 'silent' },
        ],
      },
    });
    const failures: { code?: string }[] = [];
    g.tunnel.on('failed', (error) => failures.push(error));
    const socket = await rawConnect(g.port);
    socket.on('error', () => undefined);
    socket.write(handshakeRequest('/ws/x', {}, g.port));
    await reached.promise;
    assert.equal(g.pool().snapshot().members[1]!.busy, 1);
    socket.destroy();
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0', 2_000);
    await allClosed(silent);
    await allClosed(first);
    assert.deepEqual(busy(g.pool()), [0, 0]);
    assert.deepEqual(statuses(g.pool()), ['E', 'Ok'], 'the client leaving is not the member failing');
    assert.equal(failures.at(-1)?.code, 'ERR_WSTUNNEL_CLIENT_GONE');
  });

  test('the client leaving during the first attempt: that member socket closes and no other member is dialled', async () => {
    const reached = Promise.withResolvers<void>();
    const silent = await raw(() => reached.resolve());
    const other = await raw(echo101());
    const g = await gw({
      pool: {
        failOnTimeout: true,
        members: [
          { url: silent.origin, name: 'silent', timeout: 5_000 },
          { url: other.origin, name: 'other' },
        ],
      },
    });
    const socket = await rawConnect(g.port);
    socket.write(handshakeRequest('/ws/x', {}, g.port));
    await reached.promise;
    socket.end();
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0', 2_000);
    await allClosed(silent);
    socket.destroy();
    assert.equal(other.connections, 0);
    assert.deepEqual(busy(g.pool()), [0, 0]);
    assert.deepEqual(statuses(g.pool()), ['Ok', 'Ok']);
  });

  test('a 101 with the wrong Upgrade token is a bad response: one 502 (no failover), busy 0', async () => {
    const wrong = await raw((socket) =>
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'),
    );
    const g = await gw({ pool: { members: [{ url: wrong.origin }] } });
    const response = await refusal(g.port, '/ws/x');
    assert.equal(httpCount(response), 1);
    assert.equal(statusOf(response), 502);
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Sticky sessions
// ---------------------------------------------------------------------------------------------------------------

describe('sticky sessions', () => {
  const routed = (backends: readonly { origin: string }[]) =>
    backends.map((backend, i) => ({ url: backend.origin, name: `m${i}`, route: `r${i}` }));

  test('cookie, ?param= and ;param= each pick their member; the parameter beats the cookie', async () => {
    const backends = await echoes(3);
    const g = await gw({ pool: { sticky: { cookie: 'SID', param: 'sid' }, members: routed(backends) } });
    const via = async (path: string, cookie?: string): Promise<number> => {
      const before = counts(backends);
      await spread(g, 1, path, () => (cookie === undefined ? {} : { Cookie: cookie }));
      return counts(backends).findIndex((n, i) => n > before[i]!);
    };
    assert.equal(await via('/ws/x', 'other=1; SID=abc.r2'), 2);
    assert.equal(await via('/ws/x?sid=abc.r1'), 1);
    assert.equal(await via('/ws/x?a=1&sid=abc.r1&b=2'), 1);
    assert.equal(await via('/ws/x;sid=abc.r0'), 0);
    assert.equal(await via('/ws/x;sid=abc.r0?q=1'), 0);
    assert.equal(await via('/ws/x?sid=abc.r1', 'SID=abc.r2'), 1, 'parameter beats cookie');
    assert.equal(await via('/ws/x?sid=', 'SID=abc.r2'), 2, 'an empty parameter falls back to the cookie');
    // A parameter with a similar name or the cookie under the parameter name does not count.
    for (let i = 0; i < 3; i++) assert.equal(await via('/ws/x', 'SID=abc.r2; sidx=abc.r0'), 2);
    for (let i = 0; i < 3; i++) assert.equal(await via('/ws/x?xsid=abc.r0', 'SID=abc.r2'), 2);
  });

  test('a string sticky option is Apache stickysession: "COOKIE|param", or one name for both', async () => {
    const backends = await echoes(2);
    const g = await gw(
      {
        pool: { sticky: 'JSESSIONID|jsessionid', members: routed(backends) },
        one: { sticky: 'ROUTEID', members: routed(backends) },
      },
      {
        rules: [
          { path: '/ws/', target: 'balancer://pool/' },
          { path: '/one/', target: 'balancer://one/' },
        ],
      },
    );
    assert.deepEqual(g.pool().snapshot().sticky, {
      cookie: 'JSESSIONID',
      param: 'jsessionid',
      noFailover: false,
    });
    assert.deepEqual(g.pool('one').snapshot().sticky, {
      cookie: 'ROUTEID',
      param: 'ROUTEID',
      noFailover: false,
    });
    await spread(g, 3, '/one/x?ROUTEID=.r1');
    await spread(g, 3, '/one/x', () => ({ Cookie: 'ROUTEID=.r1' }));
    assert.deepEqual(counts(backends), [0, 6]);
  });

  test('an unknown route is balanced as if absent, and with setCookie the client is told its real route', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { sticky: { cookie: 'R', setCookie: true }, members: routed(backends) } });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { head } = await handshake(g.port, '/ws/x', { Cookie: 'R=.nope' });
      const cookie = /^set-cookie: (.*)$/im.exec(head)?.[1];
      assert.ok(cookie, head);
      seen.push(cookie);
    }
    assert.deepEqual(seen.sort(), ['R=.r0; Path=/', 'R=.r0; Path=/', 'R=.r1; Path=/', 'R=.r1; Path=/']);
    // A value without the separator, or ending with it, names no route either.
    for (const value of ['r0', 'abc.']) {
      const { head } = await handshake(g.port, '/ws/x', { Cookie: `R=${value}` });
      assert.match(head, /^set-cookie: R=\.r[01]; Path=\/$/im);
    }
  });

  test('separator "" takes the whole value as the route, a custom separator splits at its first occurrence', async () => {
    const backends = await echoes(2);
    const g = await gw(
      {
        pool: {
          sticky: { cookie: 'R', separator: '', setCookie: 'Path=/ws; Secure; HttpOnly' },
          members: routed(backends),
        },
        dash: {
          sticky: { param: 'p', separator: '~' },
          members: backends.map((b, i) => ({ url: b.origin, route: `r.${i}` })),
        },
      },
      {
        rules: [
          { path: '/ws/', target: 'balancer://pool/' },
          { path: '/dash/', target: 'balancer://dash/' },
        ],
      },
    );
    for (let i = 0; i < 3; i++) {
      const { head } = await handshake(g.port, '/ws/x', { Cookie: 'R=r1' });
      assert.doesNotMatch(head, /set-cookie/i, 'the route did not change');
    }
    assert.deepEqual(counts(backends), [0, 3]);
    const { head } = await handshake(g.port, '/ws/x', { Cookie: 'R=.r1' });
    assert.match(
      head,
      /^Set-Cookie: R=r[01]; Path=\/ws; Secure; HttpOnly\r?$/m,
      'exact attributes, no separator',
    );
    const before = counts(backends);
    await spread(g, 3, '/dash/x?p=x~r.0');
    assert.deepEqual(counts(backends), [before[0]! + 3, before[1]!], '"x~r.0" names route r.0');
    // "a~b~r.0" names route "b~r.0" (Apache: after the first separator), which no member has: balanced, with the
    // three sticky sessions to r.0 already in the byrequests credit (Apache counts session routes too): 1 + 3.
    await spread(g, 4, '/dash/x?p=a~b~r.0');
    assert.deepEqual(counts(backends), [before[0]! + 4, before[1]! + 3]);
  });

  test('a sticky route is honoured whatever the lbset, standby or spare flag of its member', async () => {
    const backends = await echoes(3);
    const g = await gw({
      pool: {
        sticky: 'R',
        members: [
          { url: backends[0]!.origin, route: 'main' },
          { url: backends[1]!.origin, route: 'high', lbset: 3 },
          { url: backends[2]!.origin, route: 'hs', status: { standby: true } },
        ],
      },
    });
    await spread(g, 2, '/ws/x', () => ({ Cookie: 'R=.high' }));
    await spread(g, 2, '/ws/x', () => ({ Cookie: 'R=.hs' }));
    assert.deepEqual(counts(backends), [0, 2, 2]);
  });

  test('Apache: sessions routed by their sticky route count in the byrequests credit, so new sessions even the load out', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { sticky: 'R', members: routed(backends) } });
    await spread(g, 4, '/ws/x', () => ({ Cookie: 'R=.r0' }));
    await spread(g, 4);
    // Apache: after 4 sessions routed to r0 (credits r0 -4, r1 +4) the next 4 all go to r1.
    assert.deepEqual(counts(backends), [4, 4]);
  });

  test('noFailover: a disabled, stopped or errored member gives 503 to its sessions; others are unaffected', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { sticky: { cookie: 'R', noFailover: true }, members: routed(backends) } });
    const pool = g.pool();
    for (const status of [{ disabled: true }, { stopped: true }] as const) {
      pool.set('m0', { status });
      const response = await refusal(g.port, '/ws/x', { Cookie: 'R=.r0' });
      assert.equal(statusOf(response), 503);
      assert.equal(httpCount(response), 1);
      await spread(g, 1, '/ws/x', () => ({ Cookie: 'R=.r1' }));
      pool.set('m0', { status: { disabled: false, stopped: false } });
    }
    assert.deepEqual(counts(backends), [0, 2]);
    assert.deepEqual(busy(pool), [0, 0]);
    // In error after a failed session without a route: its routed sessions get 503 while the error lasts.
    const failing = await raw(resets);
    const [live] = await echoes(1);
    const e = await gw({
      pool: {
        sticky: { cookie: 'R', noFailover: true },
        members: [
          { url: failing.origin, route: 'f' },
          { url: live!.origin, route: 'l' },
        ],
      },
    });
    await spread(e, 1);
    assert.equal(statuses(e.pool())[0], 'E');
    assert.equal(statusOf(await refusal(e.port, '/ws/x', { Cookie: 'R=.f' })), 503);
    assert.equal(failing.connections, 1, 'no dial to a member in error');
  });

  test('noFailover: a sticky member that fails its handshake gives 503, the session does not move (was a bug at daee52f)', async () => {
    const [live] = await echoes(1);
    const failing = await raw(resets);
    const g = await gw({
      pool: {
        sticky: { cookie: 'R', noFailover: true, setCookie: true },
        members: [
          { url: failing.origin, route: 'dead' },
          { url: live!.origin, route: 'live' },
        ],
      },
    });
    const { status, head } = await handshake(g.port, '/ws/x', { Cookie: 'R=.dead' });
    assert.equal(failing.connections, 1);
    assert.equal(
      live!.requests.length,
      0,
      `the session moved to another member despite noFailover:\n${head}`,
    );
    assert.equal(status, 503);
  });

  test('draining: open tunnels stay, only the sessions routed to it arrive (cookie or param), none new', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { sticky: { cookie: 'R', param: 'r' }, members: routed(backends) } });
    const open = await openClient(g.ws('/ws/o'), undefined, { headers: { cookie: 'R=.r0' } });
    defer(() => open.terminate());
    g.pool().set('m0', { status: { draining: true } });
    assert.equal(statuses(g.pool())[0], 'N');
    await spread(g, 4);
    assert.deepEqual(counts(backends), [1, 4]);
    await spread(g, 2, '/ws/x?r=.r0');
    await spread(g, 1, '/ws/x', () => ({ Cookie: 'R=.r0' }));
    assert.deepEqual(counts(backends), [4, 4]);
    assert.equal((await roundTrip(open, 'still')).data.toString(), 'still');
  });

  test('plain requests (fallbackToHttp) follow the sticky route too', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const g = await gw({ pool: { sticky: 'R', members: routed(apps) } });
    for (let i = 0; i < 3; i++) {
      const reply = await get(g.port, '/ws/page', { cookie: 'R=.r1' });
      assert.equal(reply.status, 200);
    }
    assert.deepEqual(
      apps.map((app) => app.requests.length),
      [0, 3],
    );
  });

  test('plain requests to a sticky balancer with setCookie get the route cookie too (socket.io polling before its upgrade)', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const g = await gw({ pool: { sticky: { cookie: 'R', setCookie: true }, members: routed(apps) } });
    const reply = await get(g.port, '/ws/socket.io/?EIO=4&transport=polling');
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['set-cookie'] ?? ''), /^R=\.r[01]; Path=\/$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Plain HTTP requests to a balancer rule, busy accounting, max
// ---------------------------------------------------------------------------------------------------------------

describe('plain requests and accounting', () => {
  test('plain requests are spread over the members by weight and leave busy at 0', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const g = await gw({ pool: { members: members(apps, (i) => ({ weight: [2, 1][i] })) } });
    for (let i = 0; i < 6; i++) {
      const reply = await get(g.port, `/ws/page?i=${i}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.body, `plain /page?i=${i}`);
    }
    assert.deepEqual(
      apps.map((app) => app.requests.length),
      [4, 2],
    );
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0, 0]);
    assert.deepEqual(
      g
        .pool()
        .snapshot()
        .members.map((m) => m.chosen),
      [4, 2],
    );
  });

  test('a plain request whose member cannot be reached puts it in error (one failed answer, then the others)', async () => {
    const [app] = await Promise.all([startAppBackend(defer)]);
    const g = await gw({
      pool: {
        members: [
          { url: `ws://127.0.0.1:${await deadPort()}`, name: 'dead' },
          { url: app!.origin, name: 'app' },
        ],
      },
    });
    const replies: Reply[] = [];
    for (let i = 0; i < 4; i++) replies.push(await get(g.port, '/ws/p'));
    assert.deepEqual(
      replies.map((r) => r.status).filter((s) => s !== 200),
      [502],
      'plain requests are not retried on another member, but only one fails',
    );
    assert.deepEqual(
      g.events.map((e) => [e.member, e.kind]),
      [['dead', 'error']],
    );
    assert.match(statuses(g.pool())[0]!, /E/);
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0, 0]);
  });

  test('failOnStatus on a plain request relays the answer and puts the member in error', async () => {
    const apps = await Promise.all([startAppBackend(defer)]);
    const failing = createServer((_req, res) => res.writeHead(503, { 'content-length': 4 }).end('down'));
    const failingPort = await listen(failing);
    defer(() => closeServer(failing));
    const g = await gw({
      pool: {
        failOnStatus: [503],
        members: [
          { url: `http://127.0.0.1:${failingPort}`, name: 'failing' },
          { url: apps[0]!.origin, name: 'app' },
        ],
      },
    });
    const first = await get(g.port, '/ws/p');
    assert.equal(first.status, 503);
    assert.equal(first.body, 'down');
    assert.match(statuses(g.pool())[0]!, /E/);
    for (let i = 0; i < 3; i++) assert.equal((await get(g.port, '/ws/p')).status, 200);
  });

  test('fallbackToHttp: false on a balancer rule: plain requests skip it (404), upgrades still tunnel', async () => {
    const [app] = await Promise.all([startAppBackend(defer)]);
    const g = await gw(
      { pool: { members: [{ url: app!.origin }] } },
      { rules: [{ path: '/ws/', target: 'balancer://pool/', fallbackToHttp: false }] },
    );
    assert.equal((await get(g.port, '/ws/p')).status, 404);
    assert.equal(app!.requests.length, 0);
    assert.deepEqual(busy(g.pool()), [0]);
    await spread(g, 1);
  });

  test('a member at its max is busy, not broken: the next member takes the handshake and nobody is put in error', async () => {
    const backends = await echoes(2);
    const g = await gw({
      pool: { members: members(backends, (i) => ({ weight: [100, 1][i], ...(i === 0 && { max: 1 }) })) },
    });
    const held = await openClient(g.ws('/ws/held'));
    defer(() => held.terminate());
    assert.deepEqual(counts(backends), [1, 0]);
    const second = await openClient(g.ws('/ws/next'));
    defer(() => second.terminate());
    assert.deepEqual(counts(backends), [1, 1]);
    assert.deepEqual(statuses(g.pool()), ['Ok', 'Ok']);
    assert.deepEqual(busy(g.pool()), [1, 1]);
    held.terminate();
    second.terminate();
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0, 0]);
  });

  test('busy returns to 0 after refusals, bad responses, failovers and clients leaving, over 50 mixed handshakes', async () => {
    const refusing = await raw((socket) =>
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'),
    );
    const resetting = await raw(resets);
    const bad = await raw((socket) => socket.end('garbage\r\n\r\n'));
    const good = await raw(echo101());
    const g = await gw({
      pool: {
        maxAttempts: 3,
        members: [
          { url: refusing.origin, name: 'refusing', status: { ignoreErrors: true } },
          { url: resetting.origin, name: 'resetting', status: { ignoreErrors: true } },
          { url: bad.origin, name: 'bad', status: { ignoreErrors: true } },
          { url: good.origin, name: 'good' },
        ],
      },
    });
    const sockets: Socket[] = [];
    defer(() => {
      for (const socket of sockets) socket.destroy();
    });
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const socket = await rawConnect(g.port);
        sockets.push(socket);
        socket.on('error', () => undefined);
        // Every fifth client sends its handshake and a FIN at once: it is gone before any member answers.
        if (i % 5 === 0) {
          socket.end(handshakeRequest('/ws/x', {}, g.port));
          return 'left';
        }
        socket.write(handshakeRequest('/ws/x', {}, g.port));
        const [chunk] = (await once(socket, 'data')) as [Buffer];
        return String(statusOf(chunk.toString('latin1')));
      }),
    );
    const answered = answers.filter((a) => a !== 'left');
    assert.equal(answered.length, 40);
    assert.ok(
      answered.every((a) => a === '101' || a === '401' || a === '502'),
      answers.join(),
    );
    assert.ok(answered.includes('101') && answered.includes('401'), answers.join());
    for (const socket of sockets) socket.destroy();
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(g.pool()), [0, 0, 0, 0]);
    for (const backend of [refusing, resetting, bad, good]) await allClosed(backend);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Runtime API
// ---------------------------------------------------------------------------------------------------------------

describe('runtime API: tunnel.balancers.get(name)', () => {
  test('set changes weight, lbset, route and status flags on the next sessions; events say what changed', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { sticky: 'R', members: members(backends, (i) => ({ route: `r${i}` })) } });
    const pool = g.pool();
    pool.set('m0', { route: 'renamed' });
    await spread(g, 2, '/ws/x', () => ({ Cookie: 'R=.renamed' }));
    assert.deepEqual(counts(backends), [2, 0]);
    pool.set('m0', { status: { disabled: true } });
    pool.set('m0', { status: { stopped: true } });
    assert.equal(statuses(pool)[0], 'DS', 'flags not named in a change stay as they were');
    pool.set('m0', { status: {} });
    assert.equal(statuses(pool)[0], 'DS');
    pool.set('m0', { status: { disabled: false, stopped: false }, weight: 3, lbset: 0 });
    assert.equal(statuses(pool)[0], 'Ok');
    assert.equal(pool.member('m0')?.weight, 3);
    const kinds = g.events.map((e) => [e.member, e.kind]);
    assert.equal(kinds.length, 5);
    assert.ok(kinds.every(([member, kind]) => member === 'm0' && kind === 'changed'));
    assert.deepEqual(JSON.parse(g.events[0]!.detail), { route: 'renamed' });
    // The views are live.
    const view = pool.members[0]!;
    pool.set('m0', { weight: 7 });
    assert.equal(view.weight, 7);
  });

  test('an invalid change throws WstunnelConfigError ERR_WSTUNNEL_INVALID_BALANCER and changes nothing', () => {
    const tunnel = createWstunnel({
      rules: [],
      balancers: { pool: { members: [{ url: 'ws://127.0.0.1:1', name: 'a', route: 'ra', weight: 2 }] } },
    });
    const pool = tunnel.balancers.get('pool')!;
    const events: MemberEvent[] = [];
    tunnel.on('balancer', (event) => events.push(event));
    const before = JSON.stringify(pool.snapshot());
    const bad: unknown[] = [
      { weight: 0 },
      { weight: 101 },
      { weight: Number.NaN },
      { weight: '5' },
      { weight: 5, lbset: 100 },
      { weight: 5, lbset: 1.5 },
      { weight: 5, lbset: -1 },
      { weight: 5, route: '' },
      { weight: 5, route: 'a b' },
      { weight: 5, route: 'x'.repeat(65) },
      { weight: 5, route: 'r;x' },
      { weight: 5, status: { bogus: true } },
      { weight: 5, status: { disabled: 'yes' } },
      { weight: 5, status: null },
      null,
      'weight=5',
    ];
    for (const change of bad) {
      assert.throws(
        () => pool.set('a', change as never),
        (error: unknown) =>
          error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_BALANCER',
        JSON.stringify(change),
      );
      assert.equal(JSON.stringify(pool.snapshot()), before, `changed by ${JSON.stringify(change)}`);
    }
    assert.throws(() => pool.set('nobody', { weight: 2 }), { code: 'ERR_WSTUNNEL_INVALID_BALANCER' });
    assert.throws(() => pool.remove('nobody'), { code: 'ERR_WSTUNNEL_INVALID_BALANCER' });
    assert.throws(() => pool.remove('a'), { code: 'ERR_WSTUNNEL_INVALID_BALANCER' }, 'the last member');
    assert.equal(pool.members.length, 1);
    assert.deepEqual(events, []);
  });

  test('an invalid add throws a typed error and adds nothing', () => {
    const tunnel = createWstunnel({
      rules: [],
      balancers: { pool: { members: [{ url: 'ws://127.0.0.1:1', name: 'a' }] } },
    });
    const pool = tunnel.balancers.get('pool')!;
    const bad: unknown[] = [
      { url: 'ws://127.0.0.1:2', name: 'a' },
      { url: 'ws://127.0.0.1:2/app/' },
      { url: 'ws://127.0.0.1:2/app?x=1' },
      { url: 'ws://127.0.0.1:2', weight: 0 },
      { url: 'ws://127.0.0.1:2', retry: -1 },
      { url: 'ws://127.0.0.1:2', healthCheck: { type: 'tcp', interval: 1 } },
      { url: 'ws://127.0.0.1:2', name: '' },
      { url: 'ws://127.0.0.1:2', upgrade: ['mqtt'] },
      { url: 42 },
      null,
    ];
    for (const options of bad) {
      assert.throws(
        () => pool.add(options as never),
        (error: unknown) => error instanceof WstunnelConfigError,
        JSON.stringify(options),
      );
      assert.equal(pool.members.length, 1, JSON.stringify(options));
    }
    // Added without a name, a member is named by its URL (and so a second one with the same URL is refused).
    const view = pool.add({ url: 'ws://127.0.0.1:3' });
    assert.equal(view.name, 'ws://127.0.0.1:3');
    assert.equal(pool.member('ws://127.0.0.1:3'), view);
  });

  test('member mistakes all carry the documented code ERR_WSTUNNEL_INVALID_BALANCER ("a balancer:// target, balancer or member is misconfigured")', () => {
    const tunnel = createWstunnel({
      rules: [],
      balancers: { pool: { members: [{ url: 'ws://127.0.0.1:1' }] } },
    });
    const pool = tunnel.balancers.get('pool')!;
    const codes = [
      () => pool.add({ url: 'ftp://127.0.0.1:2' }),
      () => pool.add({ url: 'ws://127.0.0.1:2', timeout: -1 }),
      () => createWstunnel({ rules: [{ path: '/', target: 'balancer://nope/' }] }),
    ].map((attempt) => {
      try {
        attempt();
        return 'no error';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });
    assert.deepEqual(codes, Array(3).fill('ERR_WSTUNNEL_INVALID_BALANCER'));
  });

  test('remove: its open tunnels keep working and finish accounted; new sessions never reach it; add brings it back', async () => {
    const backends = await echoes(2);
    const g = await gw({ pool: { members: members(backends) } });
    const pool = g.pool();
    const clients = [await openClient(g.ws('/ws/a')), await openClient(g.ws('/ws/b'))];
    defer(() => {
      for (const client of clients) client.terminate();
    });
    assert.deepEqual(counts(backends), [1, 1]);
    pool.remove('m0');
    assert.deepEqual(
      pool.members.map((m) => m.name),
      ['m1'],
    );
    assert.deepEqual(
      g.events.map((e) => [e.member, e.kind, e.detail]),
      [['m0', 'removed', backends[0]!.origin]],
    );
    await spread(g, 4);
    assert.deepEqual(counts(backends), [1, 5]);
    for (const client of clients) assert.equal((await roundTrip(client, 'alive')).data.toString(), 'alive');
    // Even with a sticky-looking request, a removed member is gone.
    const again = pool.add({ url: backends[0]!.origin, name: 'm0' });
    assert.equal(again.busy, 0, 'a re-added member starts with its own counters');
    assert.deepEqual(g.events.at(-1), {
      balancer: 'pool',
      member: 'm0',
      kind: 'added',
      detail: backends[0]!.origin,
    });
    await spread(g, 4);
    assert.deepEqual(counts(backends), [3, 7]);
    for (const client of clients) client.close();
    await until(() => g.tunnel.size === 0, g.tunnel, 'size 0');
    assert.deepEqual(busy(pool), [0, 0]);
  });

  test('balancer names are case-insensitive: get, rule targets and events use the lower-case name', async () => {
    const backends = await echoes(1);
    const g = await gw(
      { MyPool: { members: members(backends) } },
      { rules: [{ path: '/ws/', target: 'balancer://MYPOOL/' }] },
    );
    assert.ok(g.tunnel.balancers.get('mypool'));
    assert.equal(g.tunnel.balancers.get('MyPool'), undefined, 'the map is keyed by the lower-case name');
    await spread(g, 1);
    g.pool('mypool').set('m0', { weight: 2 });
    assert.equal(g.events[0]!.balancer, 'mypool');
    assert.equal(g.pool('mypool').snapshot().name, 'mypool');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The balancer manager (JSON), through the gateway's `manager` option
// ---------------------------------------------------------------------------------------------------------------

const MEMBER_KEYS = [
  'busy',
  'bytes',
  'chosen',
  'disabled',
  'draining',
  'errors',
  'healthFailed',
  'ignoreErrors',
  'inErrorUntil',
  'lastHealthCheck',
  'lbset',
  'name',
  'route',
  'spare',
  'standby',
  'status',
  'stopped',
  'url',
  'weight',
];

const json = { 'content-type': 'application/json' };
const post = (
  port: number,
  path: string,
  body: unknown,
  headers: Record<string, string> = json,
): Promise<Reply> => get(port, path, headers, 'POST', typeof body === 'string' ? body : JSON.stringify(body));

/** Checks that a manager answered a change: 200 and the page shows it. */
function pageOf(reply: Reply): { balancers: { name: string; members: Record<string, unknown>[] }[] } {
  assert.equal(reply.status, 200, reply.body);
  assert.match(String(reply.headers['content-type']), /^application\/json/);
  return JSON.parse(reply.body);
}

describe('balancer manager', () => {
  async function managed(
    allow?: (req: IncomingMessage) => boolean,
  ): Promise<{ g: G; backends: EchoBackend[] }> {
    const backends = await echoes(2);
    const g = await gw(
      {
        pool: {
          sticky: { cookie: 'R', noFailover: true },
          members: members(backends, (i) => ({ route: `r${i}` })),
        },
        other: { method: 'bybusyness', members: [{ url: backends[0]!.origin }] },
      },
      {
        rules: [
          { path: '/ws/', target: 'balancer://pool/' },
          { path: '/other/', target: 'balancer://other/' },
        ],
        manager: { path: '/balancer-manager', ...(allow && { allow }) },
      },
    );
    return { g, backends };
  }

  test('GET: every balancer with its method, sticky settings and members; HEAD: same headers, no body', async () => {
    const { g } = await managed();
    const client = await openClient(g.ws('/ws/x'));
    await roundTrip(client, 'twelve bytes');
    const ended = once(g.tunnel, 'close');
    client.close();
    await ended;
    const reply = await get(g.port, '/balancer-manager?x=1');
    const page = pageOf(reply);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.deepEqual(
      page.balancers.map((b) => b.name),
      ['pool', 'other'],
    );
    const pool = page.balancers[0] as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(pool).sort(), ['members', 'method', 'name', 'sticky']);
    assert.equal(pool.method, 'byrequests');
    assert.deepEqual(pool.sticky, { cookie: 'R', param: null, noFailover: true });
    assert.equal(page.balancers[1]!.members[0]!.name, page.balancers[1]!.members[0]!.url);
    const member = page.balancers[0]!.members[0]!;
    assert.deepEqual(Object.keys(member).sort(), MEMBER_KEYS);
    assert.equal(member.status, 'Ok');
    assert.equal(member.route, 'r0');
    assert.equal(member.chosen, 1);
    assert.ok((member.bytes as number) > 0);
    const head = await get(g.port, '/balancer-manager', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], reply.headers['content-length']);
  });

  test('POST set / add / remove change the live balancer and answer the new page', async () => {
    const { g, backends } = await managed();
    let page = pageOf(
      await post(g.port, '/balancer-manager', {
        balancer: 'POOL',
        member: 'm0',
        set: { weight: 4, status: { disabled: true } },
      }),
    );
    assert.equal(page.balancers[0]!.members[0]!.weight, 4);
    assert.equal(page.balancers[0]!.members[0]!.status, 'D');
    assert.equal(g.pool().member('m0')?.weight, 4);
    await spread(g, 2);
    assert.deepEqual(counts(backends), [0, 2]);
    page = pageOf(
      await post(g.port, '/balancer-manager', {
        balancer: 'pool',
        add: { url: backends[0]!.origin, name: 'extra', route: 'rx' },
      }),
    );
    assert.deepEqual(
      page.balancers[0]!.members.map((m) => m.name),
      ['m0', 'm1', 'extra'],
    );
    await spread(g, 2, '/ws/x', () => ({ Cookie: 'R=.rx' }));
    assert.deepEqual(counts(backends), [2, 2]);
    page = pageOf(await post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm1', remove: true }));
    assert.deepEqual(
      page.balancers[0]!.members.map((m) => m.name),
      ['m0', 'extra'],
    );
    assert.deepEqual(
      g.events.map((e) => e.kind),
      ['changed', 'added', 'removed'],
    );
    // With application/json; charset=utf-8 too.
    pageOf(
      await post(
        g.port,
        '/balancer-manager',
        { balancer: 'pool', member: 'extra', set: { lbset: 2 } },
        {
          'content-type': 'Application/JSON; charset=utf-8',
        },
      ),
    );
    assert.equal(g.pool().member('extra')?.lbset, 2);
  });

  test('every hostile or mistaken request gets its status and changes nothing', async () => {
    const { g } = await managed();
    const before = JSON.stringify(g.pool().snapshot());
    const cases: [string, () => Promise<Reply>, number][] = [
      [
        'text/plain',
        () =>
          post(
            g.port,
            '/balancer-manager',
            { balancer: 'pool', member: 'm0', set: { weight: 2 } },
            { 'content-type': 'text/plain' },
          ),
        415,
      ],
      [
        'no content-type',
        () => post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm0', set: { weight: 2 } }, {}),
        415,
      ],
      [
        'form',
        () =>
          post(g.port, '/balancer-manager', 'balancer=pool&member=m0', {
            'content-type': 'application/x-www-form-urlencoded',
          }),
        415,
      ],
      [
        'json-ish',
        () =>
          post(
            g.port,
            '/balancer-manager',
            { balancer: 'pool', member: 'm0', set: { weight: 2 } },
            { 'content-type': 'application/jsonp' },
          ),
        415,
      ],
      ['bad JSON', () => post(g.port, '/balancer-manager', '{"balancer": "pool",'), 400],
      ['empty body', () => post(g.port, '/balancer-manager', ''), 400],
      ['a number', () => post(g.port, '/balancer-manager', '42'), 400],
      ['null', () => post(g.port, '/balancer-manager', 'null'), 400],
      [
        'unknown balancer',
        () => post(g.port, '/balancer-manager', { balancer: 'nope', member: 'm0', set: { weight: 2 } }),
        404,
      ],
      [
        'unknown member',
        () => post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm9', set: { weight: 2 } }),
        404,
      ],
      [
        'two actions',
        () =>
          post(g.port, '/balancer-manager', {
            balancer: 'pool',
            member: 'm0',
            set: { weight: 2 },
            remove: true,
          }),
        400,
      ],
      ['no action', () => post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm0' }), 400],
      [
        'remove: false',
        () => post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm0', remove: false }),
        400,
      ],
      [
        'bad weight',
        () => post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm0', set: { weight: 0 } }),
        400,
      ],
      [
        'bad flag',
        () =>
          post(g.port, '/balancer-manager', {
            balancer: 'pool',
            member: 'm0',
            set: { weight: 3, status: { down: true } },
          }),
        400,
      ],
      [
        'duplicate add',
        () =>
          post(g.port, '/balancer-manager', {
            balancer: 'pool',
            add: { url: 'ws://127.0.0.1:1', name: 'm0' },
          }),
        400,
      ],
      [
        'bad add url',
        () => post(g.port, '/balancer-manager', { balancer: 'pool', add: { url: 'gopher://x' } }),
        400,
      ],
      [
        '17 KiB',
        () =>
          post(g.port, '/balancer-manager', {
            balancer: 'pool',
            member: 'm0',
            set: { weight: 2 },
            pad: 'x'.repeat(17 * 1024),
          }),
        413,
      ],
      ['PUT', () => get(g.port, '/balancer-manager', json, 'PUT', '{}'), 405],
      ['DELETE', () => get(g.port, '/balancer-manager', {}, 'DELETE'), 405],
    ];
    for (const [name, send, status] of cases) {
      const reply = await send();
      assert.equal(reply.status, status, `${name}: ${reply.body}`);
      if (status === 405) assert.equal(reply.headers.allow, 'GET, HEAD, POST');
      if (status !== 413)
        assert.ok(typeof JSON.parse(reply.body).error === 'string', `${name}: a JSON error`);
      assert.equal(JSON.stringify(g.pool().snapshot()), before, `${name} changed the balancer`);
    }
    assert.deepEqual(g.events, []);
    // An array body is no action object either: some 4xx, nothing changed.
    const array = await post(g.port, '/balancer-manager', [
      { balancer: 'pool', member: 'm0', set: { weight: 2 } },
    ]);
    assert.equal(array.status, 400);
    // Just under the 16 KiB limit is read.
    const padded = { balancer: 'pool', member: 'm0', set: { weight: 2 }, pad: '' };
    padded.pad = 'x'.repeat(16 * 1024 - JSON.stringify(padded).length);
    assert.equal((await post(g.port, '/balancer-manager', padded)).status, 200);
  });

  test('the gateway manager: allow() refusing gives 403 and changes nothing; other paths are not the manager', async () => {
    let allowed = false;
    const seen: (string | undefined)[] = [];
    const { g } = await managed((req) => {
      seen.push(req.socket.remoteAddress);
      return allowed;
    });
    assert.equal((await get(g.port, '/balancer-manager')).status, 403);
    assert.equal(
      (await post(g.port, '/balancer-manager', { balancer: 'pool', member: 'm0', set: { weight: 9 } }))
        .status,
      403,
    );
    assert.equal(g.pool().member('m0')?.weight, 1);
    allowed = true;
    assert.equal((await get(g.port, '/balancer-manager')).status, 200);
    assert.ok(seen.every((address) => address === '127.0.0.1'));
    assert.equal((await get(g.port, '/balancer-manager/')).status, 404);
    assert.equal((await get(g.port, '/balancer-managerx')).status, 404);
    await assert.rejects(
      startGateway({ port: 0, tunnel: { rules: [] }, manager: { path: 'balancer-manager' } }),
      { code: 'ERR_WSTUNNEL_INVALID_OPTION' },
    );
  });

  test('the default gateway manager serves loopback clients with a loopback Host only (DNS rebinding)', async () => {
    const { g } = await managed();
    assert.equal((await get(g.port, '/balancer-manager')).status, 200);
    assert.equal((await get(g.port, '/balancer-manager', { host: `localhost:${g.port}` })).status, 200);
    assert.equal((await get(g.port, '/balancer-manager', { host: 'evil.example' })).status, 403);
    const posted = await post(
      g.port,
      '/balancer-manager',
      { balancer: 'pool', member: 'm0', set: { weight: 9 } },
      {
        ...json,
        host: `rebound.example:${g.port}`,
      },
    );
    assert.equal(posted.status, 403);
    assert.equal(g.pool().member('m0')?.weight, 1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Balancer targets in every rule kind, and the path mapping with a member path
// ---------------------------------------------------------------------------------------------------------------

describe('balancer targets in prefix, match and rewrite rules', () => {
  async function twoApps(): Promise<AppBackend[]> {
    return Promise.all([startAppBackend(defer), startAppBackend(defer)]);
  }
  const upgraded = (apps: readonly AppBackend[]): string[] =>
    apps.flatMap((app) => app.upgrades.map((u) => u.url));
  const plain = (apps: readonly AppBackend[]): string[] =>
    apps.flatMap((app) => app.requests.map((u) => u.url));

  test('prefix rule: member path + balancer path + the rest (/ws/x?q=1 -> /app/chat/x?q=1), upgrades and plain alike', async () => {
    const apps = await twoApps();
    const g = await gw(
      { pool: { members: apps.map((app) => ({ url: `${app.origin}/app` })) } },
      { rules: [{ path: '/ws/', target: 'balancer://pool/chat/' }] },
    );
    for (const path of ['/ws/x?q=1', '/ws/y/z', '/ws/']) {
      const client = await openClient(g.ws(path));
      client.terminate();
    }
    assert.deepEqual(upgraded(apps).sort(), ['/app/chat/', '/app/chat/x?q=1', '/app/chat/y/z']);
    assert.equal((await get(g.port, '/ws/p?a=b')).status, 200);
    assert.deepEqual(plain(apps), ['/app/chat/p?a=b']);
  });

  test('prefix rule without trailing slashes, member without a path: balancer://pool maps /live to /', async () => {
    const apps = await twoApps();
    const g = await gw(
      { pool: { members: apps.map((app) => ({ url: app.origin })) } },
      { rules: [{ path: '/live', target: 'balancer://pool' }] },
    );
    (await openClient(g.ws('/live'))).terminate();
    (await openClient(g.ws('/live/sub?x=1'))).terminate();
    assert.deepEqual(upgraded(apps).sort(), ['/', '/sub?x=1']);
  });

  test('match rule: balancer://pool/$1 with a member path, and without a backreference the whole path is appended', async () => {
    const apps = await twoApps();
    const g = await gw(
      { pool: { members: apps.map((app) => ({ url: `${app.origin}/app` })) } },
      {
        rules: [
          { match: '^/m/(.*)$', target: 'balancer://pool/$1' },
          { match: '^/whole/', target: 'balancer://pool' },
        ],
      },
    );
    (await openClient(g.ws('/m/room/1?user=a'))).terminate();
    (await openClient(g.ws('/whole/thing'))).terminate();
    assert.deepEqual(upgraded(apps).sort(), ['/app/room/1?user=a', '/app/whole/thing']);
  });

  test('rewrite rules with conditions choose between two balancers; the query is kept', async () => {
    const blue = await twoApps();
    const green = await twoApps();
    const g = await gw(
      {
        blue: { members: blue.map((app) => ({ url: `${app.origin}/b` })) },
        green: { members: green.map((app) => ({ url: app.origin })) },
      },
      {
        rules: [
          {
            rewrite: '^/r/(.*)$',
            conditions: [{ test: '%{HTTP:X-Color}', pattern: '^green$', nocase: true }],
            target: 'balancer://green/g2/$1',
          },
          { rewrite: '^/r/(.*)$', target: 'balancer://blue/$1' },
        ],
      },
    );
    (await openClient(g.ws('/r/a?x=1'), undefined, { headers: { 'x-color': 'GREEN' } })).terminate();
    (await openClient(g.ws('/r/b?y=2'))).terminate();
    (await openClient(g.ws('/r/c'))).terminate();
    assert.deepEqual(upgraded(green), ['/g2/a?x=1']);
    assert.deepEqual(upgraded(blue).sort(), ['/b/b?y=2', '/b/c']);
    assert.deepEqual(
      blue.map((app) => app.upgrades.length),
      [1, 1],
      'byrequests across the blue members',
    );
  });

  test('a balancer used by two rules shares its state (counts and errors) across them', async () => {
    const backends = await echoes(2);
    const g = await gw(
      { pool: { members: members(backends) } },
      {
        rules: [
          { path: '/a/', target: 'balancer://pool/' },
          { match: '^/b/(.*)$', target: 'balancer://pool/$1' },
        ],
      },
    );
    await spread(g, 1, '/a/x');
    await spread(g, 1, '/b/x');
    await spread(g, 1, '/a/x');
    await spread(g, 1, '/b/x');
    assert.deepEqual(counts(backends), [2, 2]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Adapters: a balancer target and the balancerManager of Express, Koa and Fastify
// ---------------------------------------------------------------------------------------------------------------

/** Resolves with the reply, or with status 0 when none came within `ms` (the request is then aborted). */
function within(
  port: number,
  path: string,
  method = 'GET',
  body?: string,
  headers: Record<string, string> = json,
  ms = 1_500,
): Promise<Reply> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method, headers, agent: false, signal: AbortSignal.timeout(ms) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', () => resolve({ status: 0, headers: {}, body: 'cut' }));
      },
    );
    req.on('error', () => resolve({ status: 0, headers: {}, body: 'no answer' }));
    req.end(body);
  });
}

async function serveListener(
  listener: Parameters<typeof createServer>[1],
): Promise<{ server: Server; port: number }> {
  const server = createServer(listener);
  const port = await listen(server);
  defer(() => closeServer(server));
  return { server, port };
}

describe('adapters with balancer:// targets', () => {
  const pool = (apps: readonly AppBackend[]): Record<string, BalancerOptions> => ({
    pool: { members: apps.map((app, i) => ({ url: `${app.origin}/app`, name: `m${i}` })) },
  });

  async function checkTunnelAndManager(
    port: number,
    apps: readonly AppBackend[],
    tunnel: Wstunnel,
    manager: string,
  ) {
    for (const path of ['/ws/x?q=1', '/ws/y']) {
      const client = await openClient(`ws://127.0.0.1:${port}${path}`);
      assert.equal((await roundTrip(client, 'hi')).data.toString(), 'hi');
      client.terminate();
    }
    assert.deepEqual(
      apps.map((app) => app.upgrades.map((u) => u.url)),
      [['/app/x?q=1'], ['/app/y']],
    );
    const reply = await get(port, '/ws/plain?z=1');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'plain /app/plain?z=1');
    const page = pageOf(await get(port, manager));
    assert.deepEqual(
      page.balancers.map((b) => b.name),
      ['pool'],
    );
    pageOf(await post(port, manager, { balancer: 'pool', member: 'm1', set: { weight: 5 } }));
    assert.equal(tunnel.balancers.get('pool')!.member('m1')?.weight, 5);
    assert.equal(
      (await post(port, manager, { balancer: 'pool', member: 'nope', set: { weight: 5 } })).status,
      404,
    );
    assert.equal(
      (await post(port, manager, { balancer: 'pool', member: 'm1', set: { weight: 0 } })).status,
      400,
    );
    assert.equal(tunnel.balancers.get('pool')!.member('m1')?.weight, 5);
  }

  test('Express: app.use("/ws/", wstunnel("balancer://pool/", { balancers })); balancerManager with and without express.json()', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const app = express();
    app.set('env', 'test'); // finalhandler: no stack trace on stderr for the 400 below
    const tunnel = expressTunnel.wstunnel('balancer://pool/', { balancers: pool(apps) });
    defer(() => tunnel.close({ timeout: 0 }));
    app.use('/ws/', tunnel);
    app.use('/raw-manager', expressTunnel.balancerManager(tunnel));
    app.use('/json-manager', express.json(), expressTunnel.balancerManager(tunnel));
    const { server, port } = await serveListener(app);
    expressTunnel.routeUpgrades(server, app);
    await checkTunnelAndManager(port, apps, tunnel.tunnel, '/raw-manager');
    pageOf(await post(port, '/json-manager', { balancer: 'pool', member: 'm0', set: { lbset: 3 } }));
    assert.equal(tunnel.tunnel.balancers.get('pool')!.member('m0')?.lbset, 3);
    // Without a body parser the manager reads the body itself: its own 400 and 413.
    assert.equal((await post(port, '/raw-manager', '{oops')).status, 400);
    const big = JSON.stringify({
      balancer: 'pool',
      member: 'm0',
      set: { weight: 2 },
      pad: 'x'.repeat(17 * 1024),
    });
    assert.equal((await within(port, '/raw-manager', 'POST', big)).status, 413);
    assert.equal((await within(port, '/json-manager', 'POST', '{oops')).status, 400);
    assert.equal(
      (await within(port, '/json-manager', 'POST', 'x', { 'content-type': 'text/plain' })).status,
      415,
    );
  });

  test('Express: a target function may return a balancer:// URL', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const app = express();
    const tunnel = expressTunnel.wstunnel((req) => `balancer://pool/${req.query.room ?? 'lobby'}`, {
      balancers: pool(apps),
    });
    defer(() => tunnel.close({ timeout: 0 }));
    app.use('/ws/', tunnel);
    const { server, port } = await serveListener(app);
    expressTunnel.routeUpgrades(server, app);
    (await openClient(`ws://127.0.0.1:${port}/ws/?room=blue`)).terminate();
    (await openClient(`ws://127.0.0.1:${port}/ws/`)).terminate();
    assert.deepEqual(
      apps.flatMap((a) => a.upgrades.map((u) => u.url.split('?')[0])).sort(),
      // As for any target URL without $N, the mount-relative path ("/") is appended after a "/".
      ['/app/blue/', '/app/lobby/'],
    );
  });

  test('Koa: mount("/ws", wstunnel("balancer://pool/", { balancers })) and mount("/manager", balancerManager(tunnel))', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const app = new Koa();
    const tunnel = koaTunnel.wstunnel('balancer://pool/', { balancers: pool(apps) });
    defer(() => tunnel.close({ timeout: 0 }));
    app.use(mount('/ws', tunnel));
    app.use(mount('/manager', koaTunnel.balancerManager(tunnel)));
    const { server, port } = await serveListener(app.callback());
    koaTunnel.routeUpgrades(server, app);
    await checkTunnelAndManager(port, apps, tunnel.tunnel, '/manager');
    assert.equal((await within(port, '/manager', 'POST', '{oops')).status, 400);
    const big = JSON.stringify({
      balancer: 'pool',
      member: 'm0',
      set: { weight: 2 },
      pad: 'x'.repeat(17 * 1024),
    });
    assert.equal((await within(port, '/manager', 'POST', big)).status, 413);
    assert.equal((await within(port, '/manager', 'PUT', '{}')).status, 405);
  });

  test('a manager over two engines with the same balancer name applies a change to both or to neither', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const one = koaTunnel.wstunnel('balancer://pool/', {
      balancers: {
        pool: {
          members: [
            { url: apps[0]!.origin, name: 'a' },
            { url: apps[1]!.origin, name: 'b' },
          ],
        },
      },
    });
    const two = koaTunnel.wstunnel('balancer://pool/', {
      balancers: {
        pool: {
          members: [
            { url: apps[0]!.origin, name: 'a' },
            { url: apps[1]!.origin, name: 'extra' },
          ],
        },
      },
    });
    defer(
      () => one.close({ timeout: 0 }),
      () => two.close({ timeout: 0 }),
    );
    const app = new Koa();
    app.use(mount('/manager', koaTunnel.balancerManager(one, two)));
    const { port } = await serveListener(app.callback());
    // A valid change reaches both engines.
    pageOf(await post(port, '/manager', { balancer: 'pool', member: 'a', set: { weight: 3 } }));
    assert.deepEqual(
      [one, two].map((t) => t.tunnel.balancers.get('pool')!.member('a')?.weight),
      [3, 3],
    );
    // "extra" exists in the second engine only: adding it is refused there...
    const added = await post(port, '/manager', {
      balancer: 'pool',
      add: { url: apps[1]!.origin, name: 'extra' },
    });
    assert.equal(added.status, 400);
    // ...so it must not have been added to the first one either.
    assert.deepEqual(
      one.tunnel.balancers.get('pool')!.members.map((m) => m.name),
      ['a', 'b'],
    );
  });

  async function fastifyApp(apps: readonly AppBackend[]) {
    // forceCloseConnections: a hung manager request must not hold close() (and the test) open.
    const app = Fastify({ forceCloseConnections: true });
    defer(() => app.close());
    app.register(fastifyTunnel.wstunnel, {
      prefix: '/ws',
      target: 'balancer://pool/',
      balancers: pool(apps),
    });
    app.route({
      method: ['GET', 'POST', 'PUT'],
      url: '/manager',
      handler: fastifyTunnel.balancerManager(app),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    return { app, port: address.port };
  }

  test('Fastify: register(wstunnel, { prefix, target: "balancer://pool/", balancers }) and a balancerManager route', async () => {
    const apps = await Promise.all([startAppBackend(defer), startAppBackend(defer)]);
    const { app, port } = await fastifyApp(apps);
    const [tunnel] = fastifyTunnel.tunnelsOf(app);
    assert.ok(tunnel);
    await checkTunnelAndManager(port, apps, tunnel, '/manager');
    assert.equal((await within(port, '/manager', 'HEAD')).status, 200);
    assert.equal((await within(port, '/manager', 'POST', 'x', { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await within(port, '/manager', 'PUT', '{}')).status, 405);
  });

  test('Express with express.json({ strict: false }): a JSON body that is not an object is answered 400, not left hanging (hung at daee52f)', async () => {
    const apps = await Promise.all([startAppBackend(defer)]);
    const app = express();
    const tunnel = expressTunnel.wstunnel('balancer://pool/', { balancers: pool(apps) });
    defer(() => tunnel.close({ timeout: 0 }));
    app.use('/manager', express.json({ strict: false }), expressTunnel.balancerManager(tunnel));
    const { port } = await serveListener(app);
    for (const body of ['null', '42']) {
      const reply = await within(port, '/manager', 'POST', body);
      assert.equal(reply.status, 400, `${body}: ${reply.status} ${reply.body}`);
    }
  });

  test('Fastify: a JSON body that is not an object (null, 42, "x") is answered 400, not left hanging (hung at daee52f)', async () => {
    const apps = await Promise.all([startAppBackend(defer)]);
    const { port } = await fastifyApp(apps);
    for (const body of ['null', '42', '"x"', 'true']) {
      const reply = await within(port, '/manager', 'POST', body);
      assert.equal(reply.status, 400, `${body}: ${reply.status} ${reply.body}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Health checks
// ---------------------------------------------------------------------------------------------------------------

/** A member answering WebSockets (echo) and health requests (200 "OK" or 503 "maintenance", by `healthy`). */
interface Toggled {
  readonly origin: string;
  readonly port: number;
  healthy: boolean;
  /** Health answers given, by verdict, and the method and path of each health request. */
  readonly answered: { ok: number; failing: number };
  readonly seen: string[];
  readonly changes: EventEmitter;
  readonly upgrades: string[];
}

async function toggled(): Promise<Toggled> {
  const changes = new EventEmitter();
  const state: Toggled = {
    origin: '',
    port: 0,
    healthy: true,
    answered: { ok: 0, failing: 0 },
    seen: [],
    changes,
    upgrades: [],
  };
  const server = createServer((req, res) => {
    state.seen.push(`${req.method} ${req.url}`);
    const body = state.healthy ? 'OK' : 'maintenance';
    res
      .writeHead(state.healthy ? 200 : 503, { 'content-length': body.length })
      .end(req.method === 'HEAD' ? undefined : body);
    if (state.healthy) state.answered.ok++;
    else state.answered.failing++;
    changes.emit('answered');
  });
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    state.upgrades.push(req.url ?? '');
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  const port = await listen(server);
  defer(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    await closeServer(server);
  });
  return Object.assign(state, { origin: `ws://127.0.0.1:${port}`, port });
}

describe('health checks', () => {
  test('http: out after exactly `fails` failing answers, back after exactly `passes` passing ones; skipped while out', async () => {
    const checked = await toggled();
    const [other] = await echoes(1);
    const g = await gw({
      pool: {
        healthCheck: { type: 'http', path: '/health?deep=1', interval: 20, fails: 2, passes: 3 },
        members: [
          { url: checked.origin, name: 'checked' },
          { url: other!.origin, name: 'other', healthCheck: false },
        ],
      },
    });
    await until(() => checked.answered.ok >= 2, checked.changes, 'two passing probes', 2_000, ['answered']);
    assert.equal(g.events.length, 0, 'passing checks of a healthy member report nothing');
    assert.ok(
      checked.seen.every((line) => line === 'GET /health?deep=1'),
      checked.seen.join(),
    );
    checked.healthy = false;
    await until(() => g.events.length > 0, g.tunnel, 'health-failed', 2_000, ['balancer']);
    assert.deepEqual(
      g.events.map((e) => [e.member, e.kind, e.detail]),
      [['checked', 'health-failed', 'status 503']],
    );
    assert.equal(checked.answered.failing, 2, 'out after exactly two failing answers');
    const snapshot = g.pool().snapshot().members[0]!;
    assert.equal(snapshot.status, 'C');
    assert.equal(snapshot.healthFailed, true);
    assert.equal(snapshot.lastHealthCheck?.ok, false);
    assert.equal(g.pool().snapshot().members[1]!.lastHealthCheck, null, 'healthCheck: false turns it off');
    await spread(g, 3);
    assert.equal(checked.upgrades.length, 0, 'a member out of health gets no new session');
    const okBefore = checked.answered.ok;
    checked.healthy = true;
    await until(() => g.events.length > 1, g.tunnel, 'health-passed', 2_000, ['balancer']);
    assert.deepEqual(g.events[1], { balancer: 'pool', member: 'checked', kind: 'health-passed', detail: '' });
    assert.equal(checked.answered.ok - okBefore, 3, 'back after exactly three passing answers');
    await spread(g, 2);
    assert.equal(checked.upgrades.length, 1);
  });

  test('http: expectStatus, expectBody and rejectBody decide; HEAD and OPTIONS methods are sent as asked', async () => {
    const member = await toggled();
    const g = await gw(
      {
        status: {
          members: [{ url: member.origin, healthCheck: { type: 'http', interval: 20, expectStatus: [503] } }],
        },
        body: {
          members: [
            {
              url: member.origin,
              healthCheck: { type: 'http', interval: 20, expectStatus: [200, 503], expectBody: /^OK$/ },
            },
          ],
        },
        reject: {
          members: [
            {
              url: member.origin,
              healthCheck: {
                type: 'http',
                interval: 20,
                expectStatus: [200, 503],
                rejectBody: /maint/,
                path: '/r',
              },
            },
          ],
        },
        head: {
          members: [
            { url: member.origin, healthCheck: { type: 'http', method: 'HEAD', path: '/h', interval: 20 } },
          ],
        },
        options: {
          members: [
            {
              url: member.origin,
              healthCheck: { type: 'http', method: 'OPTIONS', path: '/o', interval: 20 },
            },
          ],
        },
      },
      { rules: [] },
    );
    const failed = (name: string): boolean | undefined =>
      g.pool(name).snapshot().members[0]!.lastHealthCheck?.ok === false;
    const passed = (name: string): boolean | undefined =>
      g.pool(name).snapshot().members[0]!.lastHealthCheck?.ok === true;
    await until(
      () =>
        failed('status')! && passed('body')! && passed('reject')! && passed('head')! && passed('options')!,
      member.changes,
      'first verdicts',
      2_000,
      ['answered'],
    );
    assert.equal(g.pool('status').snapshot().members[0]!.lastHealthCheck?.detail, 'status 200');
    member.healthy = false;
    await until(
      () =>
        passed('status')! && failed('body')! && failed('reject')! && failed('head')! && failed('options')!,
      member.changes,
      'verdicts flipped',
      2_000,
      ['answered'],
    );
    assert.equal(g.pool('body').snapshot().members[0]!.lastHealthCheck?.detail, 'body did not match');
    assert.match(g.pool('reject').snapshot().members[0]!.lastHealthCheck?.detail ?? '', /rejectBody/);
    assert.ok(
      member.seen.includes('HEAD /h') && member.seen.includes('OPTIONS /o') && member.seen.includes('GET /r'),
    );
  });

  test('tcp: a member that stops listening is taken out (ECONNREFUSED) and put back when it listens again', async () => {
    const [other] = await echoes(1);
    const member = await startRawBackend(echo101());
    defer(() => member.close());
    const g = await gw({
      pool: {
        members: [
          { url: member.origin, name: 'tcp', healthCheck: { type: 'tcp', interval: 20 } },
          { url: other!.origin, name: 'other' },
        ],
      },
    });
    await until(
      () => g.pool().snapshot().members[0]!.lastHealthCheck?.ok === true,
      member.server,
      'a pass',
      2_000,
      ['connection'],
    );
    await member.close();
    await until(() => g.events.some((e) => e.kind === 'health-failed'), g.tunnel, 'health-failed', 2_000, [
      'balancer',
    ]);
    assert.equal(g.events[0]!.detail, 'ECONNREFUSED');
    const again = createServer();
    again.on('upgrade', (req, socket) =>
      socket.end(switchingFor(`sec-websocket-key: ${req.headers['sec-websocket-key']}`)),
    );
    again.listen(member.port, '127.0.0.1');
    await once(again, 'listening');
    defer(() => closeServer(again));
    await until(() => g.events.some((e) => e.kind === 'health-passed'), g.tunnel, 'health-passed', 2_000, [
      'balancer',
    ]);
    assert.equal(statuses(g.pool())[0], 'Ok');
  });

  test('websocket: a correct 101 passes, a wrong Sec-WebSocket-Accept or a 200 fails; the member path prefixes the check path', async () => {
    const good = await raw(echo101());
    const badAccept = await raw((socket) =>
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n',
      ),
    );
    const plain200 = await raw((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const check = { type: 'websocket', path: '/health', interval: 20 } as const;
    const g = await gw({
      pool: {
        healthCheck: check,
        members: [
          { url: `${good.origin}/app`, name: 'good' },
          { url: badAccept.origin, name: 'bad' },
          { url: plain200.origin, name: 'plain' },
        ],
      },
    });
    await until(
      () => g.events.filter((e) => e.kind === 'health-failed').length === 2,
      g.tunnel,
      'two members out',
      2_000,
      ['balancer'],
    );
    const details = Object.fromEntries(g.events.map((e) => [e.member, e.detail]));
    assert.deepEqual(details, { bad: 'bad Sec-WebSocket-Accept', plain: 'status 200' });
    assert.match(good.heads[0]!, /^GET \/app\/health HTTP\/1\.1\r\n/);
    assert.match(good.heads[0]!, /\r\nupgrade: websocket/i);
    assert.equal(g.pool().snapshot().members[0]!.lastHealthCheck?.ok, true);
    // Probes leave no connection open behind them.
    await allClosed(good, 'probe sockets closed');
    await allClosed(badAccept, 'probe sockets closed');
  });

  test('a health check that times out fails with "timeout"; a health-failed sticky member gives 503 under noFailover', async () => {
    const silent = await raw(() => undefined);
    const [other] = await echoes(1);
    const g = await gw({
      pool: {
        sticky: { cookie: 'R', noFailover: true },
        members: [
          { url: silent.origin, route: 's', healthCheck: { type: 'http', interval: 50, timeout: 20 } },
          { url: other!.origin, route: 'o' },
        ],
      },
    });
    await until(() => g.events.length > 0, g.tunnel, 'health-failed', 2_000, ['balancer']);
    assert.deepEqual(
      g.events.map((e) => [e.kind, e.detail]),
      [['health-failed', 'timeout']],
    );
    assert.equal(statusOf(await refusal(g.port, '/ws/x', { Cookie: 'R=.s' })), 503);
    await spread(g, 1, '/ws/x', () => ({ Cookie: 'R=.o' }));
    await allClosed(silent, 'timed-out probe sockets closed');
  });

  test('close() stops the checks; a removed member is no longer checked; an added one is', async () => {
    const a = await toggled();
    const b = await toggled();
    const c = await toggled();
    const g = await gw({
      pool: {
        healthCheck: { type: 'http', interval: 15 },
        members: [
          { url: a.origin, name: 'a' },
          { url: b.origin, name: 'b' },
        ],
      },
    });
    await until(() => b.answered.ok >= 2, b.changes, 'b probed', 2_000, ['answered']);
    g.pool().remove('b');
    g.pool().add({ url: c.origin, name: 'c' });
    await until(() => c.answered.ok >= 2, c.changes, 'c probed', 2_000, ['answered']);
    const bAfter = b.answered.ok;
    await until(() => a.answered.ok >= 6, a.changes, 'a probed more', 2_000, ['answered']);
    assert.ok(b.answered.ok - bAfter <= 1, 'at most the probe in flight when it was removed');
    await g.gateway.close(0);
    const atClose = [a.answered.ok, c.answered.ok];
    // The interval is what is under test: wait several of them out (a probe in flight at close() may still land).
    await delay(100);
    const settled = [a.answered.ok, c.answered.ok];
    assert.ok(settled[0]! - atClose[0]! <= 1 && settled[1]! - atClose[1]! <= 1, `${atClose} -> ${settled}`);
    await delay(100);
    assert.deepEqual([a.answered.ok, c.answered.ok], settled, 'no probe after close()');
  });

  test('health-check timers do not keep the process alive', async () => {
    const port = await deadPort();
    const script = `
      import { createServer } from 'node:http';
      import { createWstunnel } from '@wstunnel/core';
      const tunnel = createWstunnel({
        rules: [{ path: '/', target: 'balancer://p/' }],
        balancers: { p: { healthCheck: { type: 'tcp', interval: 20 }, members: [{ url: 'ws://127.0.0.1:${port}' }] } },
      });
      tunnel.on('balancer', (event) => console.log(event.kind));
      tunnel.attach(createServer());
      // Something else keeps the process up for a while, so checks run; after it, nothing should.
      setTimeout(() => console.log('done'), 150);
    `;
    const child = spawn(
      process.execPath,
      ['--conditions=@wstunnel/source', '--input-type=module', '-e', script],
      {
        cwd: new URL('../..', import.meta.url),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    defer(() => {
      if (child.exitCode === null) child.kill();
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill(), 5_000);
    const [code, signal] = (await exited) as [number | null, string | null];
    clearTimeout(timer);
    assert.equal(signal, null, `the process was kept alive: ${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /health-failed\ndone\n$/, 'the checks ran while the process was up');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// More edges: upgrade tokens per member, drain during failover, events on the diagnostics channel
// ---------------------------------------------------------------------------------------------------------------

describe('edges', () => {
  test('each member tunnels only its own upgrade tokens: the pick keeps to members that take the token', async () => {
    const answerToken: RawScript = (socket, head) => {
      const token = /^upgrade:\s*(\S+)/im.exec(head)?.[1] ?? '';
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${token}\r\nConnection: Upgrade\r\n\r\n`);
      socket.on('end', () => socket.end());
    };
    const wsOnly = await raw(answerToken);
    const mqttOnly = await raw(answerToken);
    const g = await gw({
      pool: {
        members: [
          { url: wsOnly.origin, upgrade: ['websocket'] },
          { url: mqttOnly.origin, upgrade: ['mqtt'] },
        ],
      },
    });
    for (let i = 0; i < 3; i++) {
      assert.equal((await handshake(g.port, '/ws/x')).status, 101);
      const mqtt = await handshake(g.port, '/ws/x', {
        Upgrade: 'mqtt',
        'Sec-WebSocket-Key': '',
        'Sec-WebSocket-Version': '',
      });
      assert.equal(mqtt.status, 101);
      assert.match(mqtt.head, /^upgrade: mqtt$/im);
    }
    assert.equal(wsOnly.connections, 3);
    assert.equal(mqttOnly.connections, 3);
    assert.ok(mqttOnly.heads.every((head) => /^upgrade: mqtt$/im.test(head)));
  });

  test('close() while a handshake waits on a member: the client gets one 503, the member socket is closed', async () => {
    const reached = Promise.withResolvers<void>();
    const silent = await raw(() => reached.resolve());
    const g = await gw({ pool: { members: [{ url: silent.origin }, { url: silent.origin, name: 'twin' }] } });
    const socket = await rawConnect(g.port);
    defer(() => void socket.destroy());
    const all = readAll(socket);
    socket.write(handshakeRequest('/ws/x', {}, g.port));
    await reached.promise;
    const closing = g.gateway.close(0);
    const response = (await all).toString('latin1');
    await closing;
    assert.equal(httpCount(response), 1, response);
    assert.equal(statusOf(response), 503);
    await allClosed(silent);
    assert.deepEqual(busy(g.pool()), [0, 0]);
    assert.equal(silent.connections, 1, 'no failover to the twin during the drain');
  });

  test('balancer events are published on the wstunnel:balancer diagnostics channel, with the error reason', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const published: unknown[] = [];
    const listener = (message: unknown): void => {
      published.push(message);
    };
    subscribe('wstunnel:balancer', listener);
    defer(() => void unsubscribe('wstunnel:balancer', listener));
    const [live] = await echoes(1);
    const g = await gw({
      pool: { members: [{ url: `ws://127.0.0.1:${await deadPort()}`, name: 'dead' }, { url: live!.origin }] },
    });
    await spread(g, 1);
    assert.equal(g.events.length, 1);
    assert.match(g.events[0]!.detail, /ECONNREFUSED/);
    assert.equal(published.length, 1);
    assert.deepEqual(published[0], { event: g.events[0] });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------------------------

describe('configuration errors are typed', () => {
  const m = [{ url: 'ws://127.0.0.1:1' }];
  const pool = (balancer: object): WstunnelOptions => ({
    rules: [],
    balancers: { pool: balancer as BalancerOptions },
  });
  const hc = (healthCheck: object): WstunnelOptions => pool({ members: m, healthCheck });
  const cases: [string, WstunnelOptions, string][] = [
    ['balancers is an array', { rules: [], balancers: [] as never }, 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['balancers is null', { rules: [], balancers: null as never }, 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['balancer is null', { rules: [], balancers: { pool: null as never } }, 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'name with a space',
      { rules: [], balancers: { 'a b': { members: m } } },
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'name with a slash',
      { rules: [], balancers: { 'a/b': { members: m } } },
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'names differing by case',
      { rules: [], balancers: { a: { members: m }, A: { members: m } } },
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['members missing', pool({}), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['members empty', pool({ members: [] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['member null', pool({ members: [null] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['member without url', pool({ members: [{}] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'member url with query',
      pool({ members: [{ url: 'ws://h/app?x=1' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'member url with trailing slash',
      pool({ members: [{ url: 'ws://h/' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['weight 0', pool({ members: [{ url: 'ws://h', weight: 0 }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['weight 100.5', pool({ members: [{ url: 'ws://h', weight: 100.5 }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['lbset 100', pool({ members: [{ url: 'ws://h', lbset: 100 }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'route with a space',
      pool({ members: [{ url: 'ws://h', route: 'a b' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['empty route', pool({ members: [{ url: 'ws://h', route: '' }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['empty name', pool({ members: [{ url: 'ws://h', name: '' }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'duplicate names',
      pool({ members: [{ url: 'ws://h' }, { url: 'ws://h' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'unknown status flag',
      pool({ members: [{ url: 'ws://h', status: { down: true } }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'status flag not boolean',
      pool({ members: [{ url: 'ws://h', status: { disabled: 1 } }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['retry -1', pool({ members: [{ url: 'ws://h', retry: -1 }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['retry 1.5', pool({ members: [{ url: 'ws://h', retry: 1.5 }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'upgrade NONE on one member only',
      pool({ members: [{ url: 'ws://a', upgrade: 'NONE' }, { url: 'ws://b' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['unknown method', pool({ members: m, method: 'heartbeat' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'hash without a name',
      pool({ members: m, method: { hash: 'header' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'hash on an unknown key',
      pool({ members: m, method: { hash: 'query', name: 'x' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['method is a number', pool({ members: m, method: 5 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['maxAttempts -1', pool({ members: m, maxAttempts: -1 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['maxAttempts 1.5', pool({ members: m, maxAttempts: 1.5 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['maxAttempts 101', pool({ members: m, maxAttempts: 101 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['failOnStatus not an array', pool({ members: m, failOnStatus: 503 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['failOnStatus 600', pool({ members: m, failOnStatus: [600] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['failOnTimeout "yes"', pool({ members: m, failOnTimeout: 'yes' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['forceRecovery 1', pool({ members: m, forceRecovery: 1 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['sticky empty string', pool({ members: m, sticky: '' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['sticky "C|"', pool({ members: m, sticky: 'C|' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['sticky number', pool({ members: m, sticky: 5 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['sticky null', pool({ members: m, sticky: null }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'sticky without names',
      pool({ members: m, sticky: { noFailover: true } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'sticky cookie with "="',
      pool({ members: m, sticky: { cookie: 'a=b' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'separator a space',
      pool({ members: m, sticky: { cookie: 'C', separator: ' ' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'separator of two characters',
      pool({ members: m, sticky: { cookie: 'C', separator: '::' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'setCookie without cookie',
      pool({ members: m, sticky: { param: 'p', setCookie: true } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'setCookie with CRLF',
      pool({ members: m, sticky: { cookie: 'C', setCookie: 'Path=/\r\nX-Evil: 1' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'setCookie number',
      pool({ members: m, sticky: { cookie: 'C', setCookie: 1 } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'noFailover "yes"',
      pool({ members: m, sticky: { cookie: 'C', noFailover: 'yes' } }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['healthCheck null', hc(null as never), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck type udp', hc({ type: 'udp' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck unknown option', hc({ type: 'tcp', every: 5 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck method POST', hc({ type: 'http', method: 'POST' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'healthCheck method on websocket',
      hc({ type: 'websocket', method: 'GET' }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    ['healthCheck path on tcp', hc({ type: 'tcp', path: '/' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck path without "/"', hc({ type: 'http', path: 'health' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck path with CRLF', hc({ type: 'http', path: '/h\r\nX: 1' }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck interval 5', hc({ type: 'tcp', interval: 5 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck timeout 0', hc({ type: 'tcp', timeout: 0 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck fails 0', hc({ type: 'tcp', fails: 0 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck passes 101', hc({ type: 'tcp', passes: 101 }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    ['healthCheck expectStatus []', hc({ type: 'http', expectStatus: [] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'healthCheck expectStatus on tcp',
      hc({ type: 'tcp', expectStatus: [200] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'healthCheck expectBody a string',
      hc({ type: 'http', expectBody: 'OK' }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'healthCheck expectBody with HEAD',
      hc({ type: 'http', method: 'HEAD', expectBody: /OK/ }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'member healthCheck invalid',
      pool({ members: [{ url: 'ws://h', healthCheck: { type: 'tcp', fails: -1 } }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'unknown balancer in a rule',
      { rules: [{ path: '/', target: 'balancer://nope/' }] },
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'balancer target with a query',
      { rules: [{ path: '/', target: 'balancer://pool/?x=1' }], balancers: { pool: { members: m } } },
      'ERR_WSTUNNEL_INVALID_TARGET',
    ],
    [
      'balancer target without a name',
      { rules: [{ path: '/', target: 'balancer:///' }], balancers: { pool: { members: m } } },
      'ERR_WSTUNNEL_INVALID_TARGET',
    ],
    [
      'balancer host from a capture',
      { rules: [{ match: '^/(.*)$', target: 'balancer://$1/' }], balancers: { pool: { members: m } } },
      'ERR_WSTUNNEL_INVALID_TARGET',
    ],
    [
      'target options on a balancer rule',
      { rules: [{ path: '/', target: 'balancer://pool/', timeout: 5 }], balancers: { pool: { members: m } } },
      'ERR_WSTUNNEL_INVALID_RULE',
    ],
    [
      'fallbackToHttp not boolean on a balancer rule',
      {
        rules: [{ path: '/', target: 'balancer://pool/', fallbackToHttp: 'no' as never }],
        balancers: { pool: { members: m } },
      },
      'ERR_WSTUNNEL_INVALID_OPTION',
    ],
    [
      'trailing slashes disagree',
      { rules: [{ path: '/ws/', target: 'balancer://pool' }], balancers: { pool: { members: m } } },
      'ERR_WSTUNNEL_INVALID_RULE',
    ],
    ['member with a bad scheme', pool({ members: [{ url: 'ftp://h' }] }), 'ERR_WSTUNNEL_INVALID_BALANCER'],
    [
      'member that is a balancer',
      pool({ members: [{ url: 'balancer://other' }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
    [
      'member target option invalid',
      pool({ members: [{ url: 'ws://h', timeout: -1 }] }),
      'ERR_WSTUNNEL_INVALID_BALANCER',
    ],
  ];

  test(`${cases.length} mistakes each throw WstunnelConfigError with their code, at creation`, () => {
    for (const [name, options, code] of cases) {
      assert.throws(
        () => createWstunnel(options),
        (error: unknown) => {
          assert.ok(error instanceof WstunnelConfigError, `${name}: ${String(error)}`);
          assert.equal(error.code, code, `${name}: ${error.message}`);
          return true;
        },
        name,
      );
    }
  });

  test('the same mistakes reject startGateway and the adapters at setup, not at the first request', async () => {
    const options = pool({ members: [{ url: 'ws://h', weight: 0 }] });
    await assert.rejects(startGateway({ port: 0, tunnel: options }), {
      code: 'ERR_WSTUNNEL_INVALID_BALANCER',
    });
    assert.throws(() => expressTunnel.wstunnel('balancer://pool/', { balancers: options.balancers! }), {
      code: 'ERR_WSTUNNEL_INVALID_BALANCER',
    });
    assert.throws(() => koaTunnel.wstunnel('balancer://nope/', { balancers: {} }), {
      name: 'WstunnelConfigError',
    });
    const app = Fastify();
    defer(() => app.close());
    await assert.rejects(
      async () => {
        await app.register(fastifyTunnel.wstunnel, {
          prefix: '/ws',
          target: 'balancer://pool/',
          balancers: options.balancers!,
        });
      },
      { code: 'ERR_WSTUNNEL_INVALID_BALANCER' },
    );
  });

  test('method: null (a JSON config with an explicit null) is a typed configuration error, not a TypeError (was at daee52f)', () => {
    assert.throws(() => createWstunnel(pool({ members: m, method: null })), {
      name: 'WstunnelConfigError',
      code: 'ERR_WSTUNNEL_INVALID_BALANCER',
    });
  });
});
