// Why: balancer:// behaviour end to end, through the real gateway, against real member backends: distribution,
// long-lived tunnels, sticky routes, failover with nothing sent early, standbys, health checks, drain, runtime changes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import type { BalancerOptions, MemberEvent, WstunnelOptions } from '@wstunnel/core';
import type { WebSocket } from 'ws';
import { type EchoBackend, startEchoBackend, startRawBackend, switchingFor } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { openClient, roundTrip, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  closeServer,
  deadPort,
  handshakeRequest,
  listen,
  rawConnect,
  readHead,
  statusOf,
} from '../helpers/net.ts';

const defer = cleanupAfterEach();

/** Sends a handshake and resolves with the response head (plus a blank line), then drops the connection. */
async function headOf(
  gateway: TestGateway,
  path: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const socket = await rawConnect(gateway.port);
  socket.write(handshakeRequest(path, headers));
  const { head, rest } = await readHead(socket);
  socket.destroy();
  return `${head}\r\n\r\n${rest.toString('latin1')}`;
}

async function echoes(count: number): Promise<EchoBackend[]> {
  const backends = await Promise.all(Array.from({ length: count }, () => startEchoBackend()));
  defer(...backends.map((backend) => () => backend.close()));
  return backends;
}

async function gatewayFor(
  balancer: BalancerOptions,
  extra: Partial<WstunnelOptions> = {},
): Promise<TestGateway> {
  const gateway = await startTestGateway({
    rules: [{ path: '/ws/', target: 'balancer://pool/' }],
    balancers: { pool: balancer },
    ...extra,
  });
  defer(() => gateway.close(0));
  return gateway;
}

/** Opens `count` tunnels one after the other, closing each, and counts the handshakes each backend saw. */
async function spread(
  gateway: TestGateway,
  backends: readonly EchoBackend[],
  count: number,
): Promise<number[]> {
  const before = backends.map((backend) => backend.requests.length);
  for (let i = 0; i < count; i++) {
    const client = await openClient(gateway.ws('/ws/x'));
    const closedClient = once(client, 'close');
    client.close();
    await closedClient;
  }
  return backends.map((backend, at) => backend.requests.length - before[at]!);
}

const byUrl = (backends: readonly EchoBackend[], weights: readonly number[] = []) =>
  backends.map((backend, at) => ({ url: backend.origin, name: `m${at}`, weight: weights[at] ?? 1 }));

describe('balancer://: distribution', () => {
  test('byrequests follows the weights exactly over a full cycle (5:3:2 over 100 tunnels)', async () => {
    const backends = await echoes(3);
    const gateway = await gatewayFor({ members: byUrl(backends, [5, 3, 2]) });
    assert.deepEqual(await spread(gateway, backends, 100), [50, 30, 20]);
  });

  test('bytraffic sends new tunnels to the member that moved the fewest bytes per weight', async () => {
    const backends = await echoes(2);
    const gateway = await gatewayFor({ method: 'bytraffic', members: byUrl(backends) });
    const heavy = await openClient(gateway.ws('/ws/heavy'));
    defer(() => heavy.terminate());
    await roundTrip(heavy, Buffer.alloc(64 * 1024));
    // The open tunnel's bytes count while it is open: the next ten all go to the other member.
    const counts = await spread(gateway, backends, 10);
    const heavyAt = backends.findIndex((backend) => backend.requests.some((req) => req.url === '/heavy'));
    assert.equal(counts[heavyAt], 0);
    assert.equal(counts[1 - heavyAt], 10);
  });

  test('bybusyness gives new tunnels to the member with the fewest open ones', async () => {
    const backends = await echoes(3);
    const gateway = await gatewayFor({ method: 'bybusyness', members: byUrl(backends) });
    const open: WebSocket[] = [];
    defer(() => {
      for (const client of open) client.terminate();
    });
    for (let i = 0; i < 9; i++) open.push(await openClient(gateway.ws('/ws/long')));
    assert.deepEqual(
      backends.map((backend) => backend.requests.length),
      [3, 3, 3],
    );
    // Close the two tunnels of member 1: the next two go there, whatever the request counts say.
    const onMember1 = [...backends[1]!.wss.clients];
    const gone = onMember1.slice(0, 2).map((socket) => once(socket, 'close'));
    for (const socket of onMember1.slice(0, 2)) socket.close();
    await Promise.all(gone);
    await waitFor(() => gateway.tunnel.balancers.get('pool')!.members[1]!.busy === 1, gateway, 'close');
    for (let i = 0; i < 2; i++) open.push(await openClient(gateway.ws('/ws/long')));
    assert.equal(backends[1]!.requests.length, 5);
  });

  test('bytraffic and bybusyness follow the weights too, within 10% (3:1 over 40 equal tunnels)', async () => {
    for (const method of ['bytraffic', 'bybusyness'] as const) {
      const backends = await echoes(2);
      const gateway = await gatewayFor({ method, members: byUrl(backends, [3, 1]) });
      const counts = [0, 0];
      for (let i = 0; i < 40; i++) {
        const client = await openClient(gateway.ws('/ws/w'));
        await roundTrip(client, Buffer.alloc(1024));
        const ended = once(gateway.tunnel, 'close');
        client.close();
        await ended;
      }
      for (const [at, backend] of backends.entries()) counts[at] = backend.requests.length;
      assert.ok(Math.abs(counts[0]! - 30) <= 3, `${method}: ${counts}`);
    }
  });

  test('consistent hashing on a header keeps a key on one member, and spreads keys', async () => {
    const backends = await echoes(3);
    const gateway = await gatewayFor({
      method: { hash: 'header', name: 'X-User' },
      members: byUrl(backends),
    });
    const seen = new Map<string, number>();
    for (let user = 0; user < 30; user++) {
      for (let round = 0; round < 2; round++) {
        const client = await openClient(gateway.ws('/ws/h'), undefined, {
          headers: { 'x-user': `u${user}` },
        });
        const at = backends.findIndex((backend) => backend.wss.clients.size > 0);
        const ended = once(gateway.tunnel, 'close');
        client.terminate();
        await ended;
        if (round === 0) seen.set(`u${user}`, at);
        else assert.equal(at, seen.get(`u${user}`), `u${user} moved`);
      }
    }
    const perMember = [0, 1, 2].map((at) => [...seen.values()].filter((value) => value === at).length);
    assert.ok(Math.min(...perMember) >= 3, `keys spread: ${perMember}`);
  });

  test('a custom strategy picks the member; one that throws gives 500, never a crash', async () => {
    const backends = await echoes(2);
    let fail = false;
    const gateway = await gatewayFor({
      members: byUrl(backends),
      method: (members) => {
        if (fail) throw new Error('boom');
        return members.at(-1);
      },
    });
    assert.deepEqual(await spread(gateway, backends, 3), [0, 3]);
    fail = true;
    const response = await headOf(gateway, '/ws/x');
    assert.equal(statusOf(response), 500);
  });
});

describe('balancer://: sticky sessions', () => {
  test('the route in the cookie picks its member; a new session gets the route cookie on the 101', async () => {
    const backends = await echoes(3);
    const gateway = await gatewayFor({
      sticky: { cookie: 'ROUTEID', setCookie: true },
      members: backends.map((backend, at) => ({ url: backend.origin, route: `r${at}` })),
    });
    const first = await headOf(gateway, '/ws/x');
    assert.equal(statusOf(first), 101);
    const cookie = /set-cookie: ROUTEID=\.(r\d); Path=\//i.exec(first);
    assert.ok(cookie, first);
    for (let i = 0; i < 5; i++) {
      const again = await headOf(gateway, '/ws/x', { cookie: `a=b; ROUTEID=.${cookie[1]}` });
      assert.equal(statusOf(again), 101);
      assert.doesNotMatch(again, /set-cookie/i, 'the route did not change');
    }
    const at = Number(cookie[1]!.slice(1));
    assert.equal(backends[at]!.requests.length, 6);
  });

  test('the URL parameter beats the cookie, and ;param= works too', async () => {
    const backends = await echoes(2);
    const gateway = await gatewayFor({
      sticky: 'JSESSIONID|jsessionid',
      members: backends.map((backend, at) => ({ url: backend.origin, route: `n${at}` })),
    });
    await openClient(gateway.ws('/ws/a?jsessionid=xyz.n1'), undefined, {
      headers: { cookie: 'JSESSIONID=abc.n0' },
    }).then((c) => c.terminate());
    await openClient(gateway.ws('/ws/b;jsessionid=xyz.n1')).then((c) => c.terminate());
    await openClient(gateway.ws('/ws/c'), undefined, { headers: { cookie: 'JSESSIONID=abc.n0' } }).then((c) =>
      c.terminate(),
    );
    assert.deepEqual(
      backends[1]!.requests.map((req) => req.url),
      ['/a?jsessionid=xyz.n1', '/b;jsessionid=xyz.n1'],
    );
    assert.deepEqual(
      backends[0]!.requests.map((req) => req.url),
      ['/c'],
    );
  });

  test('a session whose member is down moves (and is told its new route); with noFailover it gets 503', async () => {
    const [live] = await echoes(1);
    const down = await deadPort();
    const members = [
      { url: `ws://127.0.0.1:${down}`, route: 'dead' },
      { url: live!.origin, route: 'live' },
    ];
    const moving = await gatewayFor({ sticky: { cookie: 'R', setCookie: true }, members });
    const moved = await headOf(moving, '/ws/x', { cookie: 'R=.dead' });
    assert.equal(statusOf(moved), 101);
    assert.match(moved, /set-cookie: R=\.live/i);
    const pinned = await gatewayFor({ sticky: { cookie: 'R', noFailover: true }, members });
    pinned.tunnel.balancers.get('pool')!.set(`ws://127.0.0.1:${down}`, { status: { disabled: true } });
    const refused = await headOf(pinned, '/ws/x', { cookie: 'R=.dead' });
    assert.equal(statusOf(refused), 503);
  });
});

describe('balancer://: failover', () => {
  test('a member that is down is skipped, put in error, and the client sees one 101', async () => {
    const [live] = await echoes(1);
    const events: MemberEvent[] = [];
    const gateway = await gatewayFor({
      members: [
        { url: `ws://127.0.0.1:${await deadPort()}`, name: 'down' },
        { url: live!.origin, name: 'up' },
      ],
    });
    gateway.tunnel.on('balancer', (event) => events.push(event));
    for (let i = 0; i < 4; i++) {
      const response = await headOf(gateway, '/ws/x');
      assert.equal(response.match(/HTTP\/1\.1/g)?.length, 1, response);
      assert.equal(statusOf(response), 101);
    }
    assert.deepEqual(
      events.map((event) => [event.member, event.kind]),
      [['down', 'error']],
    );
    const snapshot = gateway.tunnel.balancers.get('pool')!.snapshot();
    assert.match(snapshot.members[0]!.status, /E/);
  });

  test('a member that resets before answering, or answers a failonstatus code, is failed over with the early bytes', async () => {
    const [live] = await echoes(1);
    const reset = await startRawBackend((socket) => socket.resetAndDestroy());
    const busy = await startRawBackend((socket) =>
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy'),
    );
    defer(
      () => reset.close(),
      () => busy.close(),
    );
    const gateway = await gatewayFor({
      failOnStatus: [503],
      maxAttempts: 2,
      members: [
        { url: reset.origin, name: 'reset' },
        { url: busy.origin, name: 'busy' },
        { url: live!.origin, name: 'live' },
      ],
    });
    const client = await openClient(gateway.ws('/ws/x'));
    defer(() => client.terminate());
    const reply = await roundTrip(client, 'after failover');
    assert.equal(reply.data.toString(), 'after failover');
    assert.equal(reset.connections, 1);
    assert.equal(busy.connections, 1);
    const states = gateway.tunnel.balancers
      .get('pool')!
      .snapshot()
      .members.map((member) => member.status);
    assert.deepEqual(
      states.map((status) => status.includes('E')),
      [true, true, false],
    );
  });

  test('a status not listed in failonstatus is relayed as it is, and the member stays usable', async () => {
    const refuse = await startRawBackend((socket) =>
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'),
    );
    defer(() => refuse.close());
    const gateway = await gatewayFor({ failOnStatus: [503], members: [{ url: refuse.origin }] });
    assert.equal(statusOf(await headOf(gateway, '/ws/x')), 401);
    assert.equal(gateway.tunnel.balancers.get('pool')!.snapshot().members[0]!.status, 'Ok');
  });

  test('failontimeout: a member that never answers is failed over after its timeout', async () => {
    const [live] = await echoes(1);
    const silent = await startRawBackend(() => undefined);
    defer(() => silent.close());
    const gateway = await gatewayFor({
      failOnTimeout: true,
      members: [
        { url: silent.origin, timeout: 200 },
        { url: live!.origin, timeout: 200 },
      ],
    });
    const client = await openClient(gateway.ws('/ws/x'));
    client.terminate();
    assert.equal(silent.connections, 1);
  });

  test('with every member down the client gets 503 quickly, and again at once while they are in error', async () => {
    const members = [
      { url: `ws://127.0.0.1:${await deadPort()}` },
      { url: `ws://127.0.0.1:${await deadPort()}` },
    ];
    const gateway = await gatewayFor({ members, forceRecovery: false });
    const started = performance.now();
    assert.equal(statusOf(await headOf(gateway, '/ws/x')), 503);
    assert.equal(statusOf(await headOf(gateway, '/ws/x')), 503);
    assert.ok(performance.now() - started < 2_000);
    assert.equal(gateway.tunnel.size, 0);
  });

  test('forcerecovery: when every member is in error, they are tried again instead of 503', async () => {
    // Resets its first connection, then answers every handshake.
    let seen = 0;
    const flaky = await startRawBackend((socket, head) => {
      if (seen++ === 0) socket.resetAndDestroy();
      else socket.write(switchingFor(head));
    });
    defer(() => flaky.close());
    const members = [{ url: flaky.origin, name: 'flaky' }];
    const recovering = await gatewayFor({ members });
    assert.equal(statusOf(await headOf(recovering, '/ws/x')), 503);
    assert.match(recovering.tunnel.balancers.get('pool')!.snapshot().members[0]!.status, /E/);
    assert.equal(statusOf(await headOf(recovering, '/ws/x')), 101);
    seen = 0;
    const strict = await gatewayFor({ members, forceRecovery: false });
    assert.equal(statusOf(await headOf(strict, '/ws/x')), 503);
    assert.equal(statusOf(await headOf(strict, '/ws/x')), 503);
    assert.equal(flaky.connections, 3);
  });
});

describe('balancer://: member states', () => {
  test('a hot standby takes over when the others are unusable and gives back when they return', async () => {
    const backends = await echoes(2);
    const gateway = await gatewayFor({
      members: [
        { url: backends[0]!.origin, name: 'main' },
        { url: backends[1]!.origin, name: 'standby', status: { standby: true } },
      ],
    });
    const balancer = gateway.tunnel.balancers.get('pool')!;
    assert.deepEqual(await spread(gateway, backends, 3), [3, 0]);
    balancer.set('main', { status: { stopped: true } });
    assert.deepEqual(await spread(gateway, backends, 3), [0, 3]);
    balancer.set('main', { status: { stopped: false } });
    assert.deepEqual(await spread(gateway, backends, 3), [3, 0]);
  });

  test('draining lets open tunnels finish and takes only its sticky sessions', async () => {
    const backends = await echoes(2);
    const gateway = await gatewayFor({
      sticky: 'ROUTEID',
      members: backends.map((backend, at) => ({ url: backend.origin, route: `r${at}`, name: `m${at}` })),
    });
    const open = await openClient(gateway.ws('/ws/x'), undefined, { headers: { cookie: 'ROUTEID=.r0' } });
    defer(() => open.terminate());
    gateway.tunnel.balancers.get('pool')!.set('m0', { status: { draining: true } });
    assert.deepEqual(await spread(gateway, backends, 4), [0, 4]);
    const sticky = await openClient(gateway.ws('/ws/x'), undefined, { headers: { cookie: 'ROUTEID=.r0' } });
    sticky.terminate();
    assert.equal((await roundTrip(open, 'still here')).data.toString(), 'still here');
    assert.equal(backends[0]!.requests.length, 2);
  });

  test('runtime weight changes take effect on the next tunnels; removing a member keeps its tunnels open', async () => {
    const backends = await echoes(2);
    const gateway = await gatewayFor({ members: byUrl(backends) });
    const balancer = gateway.tunnel.balancers.get('pool')!;
    assert.deepEqual(await spread(gateway, backends, 10), [5, 5]);
    balancer.set('m0', { weight: 4 });
    assert.deepEqual(await spread(gateway, backends, 10), [8, 2]);
    const open = await openClient(gateway.ws('/ws/x'));
    defer(() => open.terminate());
    const on = backends.findIndex((backend) => backend.wss.clients.size === 1);
    balancer.remove(`m${on}`);
    assert.equal((await roundTrip(open, 'kept')).data.toString(), 'kept');
    const counts = await spread(gateway, backends, 4);
    assert.equal(counts[on], 0);
    balancer.add({ url: backends[on]!.origin, name: 'again', weight: 1 });
    assert.ok((await spread(gateway, backends, 4))[on]! > 0);
  });

  test('a health check takes a member out after its fails and brings it back after its passes', async () => {
    const backends = await echoes(2);
    let healthy = true;
    const health = createServer((_req, res) => {
      res.statusCode = healthy ? 200 : 503;
      res.end();
    });
    const healthPort = await listen(health);
    defer(() => closeServer(health));
    const events: MemberEvent[] = [];
    const gateway = await gatewayFor({
      members: [
        { url: backends[0]!.origin, name: 'checked', healthCheck: { type: 'tcp', interval: 20 } },
        { url: backends[1]!.origin, name: 'other' },
      ],
    });
    const balancer = gateway.tunnel.balancers.get('pool')!;
    gateway.tunnel.on('balancer', (event) => events.push(event));
    // The tcp check on a live member passes; an http check against the toggled server flips.
    balancer.add({
      url: `http://127.0.0.1:${healthPort}`,
      name: 'web',
      upgrade: ['websocket'],
      healthCheck: { type: 'http', interval: 20, fails: 2, passes: 2 },
    });
    healthy = false;
    await waitFor(
      () => events.some((e) => e.member === 'web' && e.kind === 'health-failed'),
      gateway,
      'balancer',
    );
    assert.match(balancer.snapshot().members[2]!.status, /C/);
    healthy = true;
    await waitFor(
      () => events.some((e) => e.member === 'web' && e.kind === 'health-passed'),
      gateway,
      'balancer',
    );
    assert.equal(balancer.snapshot().members[2]!.status, 'Ok');
    assert.equal(balancer.snapshot().members[0]!.lastHealthCheck?.ok, true);
  });
});

describe('balancer://: configuration', () => {
  test('--check lists each balancer as the <Proxy balancer://> section it stands for', async () => {
    const { describeRules } = await import('@wstunnel/core');
    const lines = describeRules({
      rules: [{ path: '/ws/', target: 'balancer://Chat/' }],
      balancers: {
        Chat: {
          method: 'bybusyness',
          sticky: 'ROUTEID',
          members: [
            { url: 'ws://a:1', route: 'a', weight: 2 },
            { url: 'ws://b:1', status: { standby: true } },
          ],
        },
      },
    });
    assert.deepEqual(lines.slice(1, 6), [
      '<Proxy "balancer://chat">',
      '  BalancerMember "ws://a:1" loadfactor=2 route=a',
      '  BalancerMember "ws://b:1" status=+H',
      '  ProxySet lbmethod=bybusyness stickysession=ROUTEID',
      '</Proxy>',
    ]);
  });

  test('mistakes throw typed errors at configuration time', async () => {
    const { createWstunnel } = await import('@wstunnel/core');
    const cases: [string, WstunnelOptions][] = [
      ['unknown balancer', { rules: [{ path: '/', target: 'balancer://nope/' }] }],
      ['no members', { rules: [], balancers: { a: { members: [] } } }],
      ['bad weight', { rules: [], balancers: { a: { members: [{ url: 'ws://b', weight: 0 }] } } }],
      ['trailing slash member', { rules: [], balancers: { a: { members: [{ url: 'ws://b/app/' }] } } }],
      [
        'bad method',
        { rules: [], balancers: { a: { members: [{ url: 'ws://b' }], method: 'random' as 'byrequests' } } },
      ],
      [
        'rule options on a balancer rule',
        {
          rules: [{ path: '/', target: 'balancer://a/', timeout: 5 }],
          balancers: { a: { members: [{ url: 'ws://b' }] } },
        },
      ],
      [
        'duplicate names',
        { rules: [], balancers: { a: { members: [{ url: 'ws://b' }, { url: 'ws://b' }] } } },
      ],
      [
        'bad sticky',
        { rules: [], balancers: { a: { members: [{ url: 'ws://b' }], sticky: { param: 'a b' } } } },
      ],
    ];
    for (const [name, options] of cases)
      assert.throws(() => createWstunnel(options), { name: 'WstunnelConfigError' }, name);
  });
});

/** Awaits `event` on the gateway's tunnel until `condition` holds (the test timeout bounds it). */
async function waitFor(
  condition: () => boolean,
  gateway: TestGateway,
  event: 'close' | 'balancer',
): Promise<void> {
  while (!condition()) await once(gateway.tunnel, event);
}
