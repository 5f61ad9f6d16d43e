// Why: examples/balancer is documentation that runs: it is started the way its package.json says, and what its README
// shows is done for real: tunnels spread over the members, the ROUTEID cookie on the 101, a member drained through
// the balancer-manager, its sticky sessions kept, and a clean SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const cwd = fileURLToPath(new URL('../examples/balancer/', import.meta.url));
/** Bounds: a hung example must fail, not stall the run. */
const WAIT_MS = 8_000;

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

interface Started {
  readonly child: ChildProcess;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  readonly output: () => string;
  /** Resolves with the first stdout line (already printed or still to come) that matches `pattern`. */
  line(pattern: RegExp): Promise<RegExpExecArray>;
}

/** Starts `node <args>` in the example's directory, without the test runner's context or the caller's BACKENDS. */
function start(args: readonly string[], env: Record<string, string> = {}): Started {
  const inherited = { ...process.env };
  for (const name of ['BACKENDS', 'PORT', 'ROUTE', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT'])
    delete inherited[name];
  const child = spawn(process.execPath, args, { cwd, env: { ...inherited, ...env } });
  running.add(child);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  void exited.then(() => running.delete(child));
  let output = '';
  const lines: string[] = [];
  const waiting = new Set<() => void>();
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    output += `${text}\n`;
    lines.push(text);
    for (const wake of waiting) wake();
  });
  const line = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        for (; seen < lines.length; seen++) {
          const match = pattern.exec(lines[seen]!);
          if (match === null) continue;
          settle();
          return resolve(match);
        }
      };
      const timer = setTimeout(() => {
        settle();
        reject(new Error(`no line matching ${pattern} within ${WAIT_MS} ms:\n${output}`));
      }, WAIT_MS);
      const settle = (): void => {
        clearTimeout(timer);
        waiting.delete(check);
      };
      void exited.then(([code, signal]) => {
        if (!waiting.has(check)) return;
        settle();
        reject(new Error(`exited (${code ?? signal}) before a line matching ${pattern}:\n${output}`));
      });
      waiting.add(check);
      check();
    });
  return { child, exited, output: () => output, line };
}

/** Starts the example with its package.json `start` command (run by this Node) and waits for its URL. */
async function startExample(env: Record<string, string> = {}): Promise<Started & { origin: string }> {
  const script = JSON.parse(readFileSync(`${cwd}package.json`, 'utf8')).scripts.start as string;
  const [command, ...args] = script.split(' ');
  assert.equal(command, 'node', `the start script runs node: ${script}`);
  const example = start(args, { PORT: '0', ...env });
  const [, origin] = await example.line(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/);
  return { ...example, origin: origin! };
}

/** SIGTERM, then a clean exit within the bound. */
async function stop(example: Started): Promise<void> {
  example.child.kill('SIGTERM');
  const timer = setTimeout(() => example.child.kill('SIGKILL'), WAIT_MS);
  const [code, signal] = await example.exited;
  clearTimeout(timer);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, example.output());
}

interface Tunnel {
  readonly client: WebSocket;
  /** Who answered, from the member's greeting `m2: connected to /room`. */
  readonly member: string;
  readonly path: string;
  /** The `Set-Cookie` of the 101, if any. */
  readonly cookie: string | undefined;
}

/** Opens a WebSocket through the gateway, reads the member's greeting and one echo, and leaves it open. */
async function openTunnel(url: string, headers: Record<string, string> = {}): Promise<Tunnel> {
  const client = new WebSocket(url, { headers });
  let cookie: string | undefined;
  client.once('upgrade', (res: IncomingMessage) => {
    cookie = res.headers['set-cookie']?.join(', ');
  });
  // The greeting can arrive in the same read as the 101: listen before the socket opens.
  const greeting = await new Promise<string>((resolve, reject) => {
    client.once('message', (data: Buffer) => resolve(data.toString()));
    client.once('error', reject);
    client.once('unexpected-response', (_req, res: IncomingMessage) =>
      reject(new Error(`${url}: unexpected response ${res.statusCode}`)),
    );
  });
  const [, member, path] = /^(\S+): connected to (\S+)$/.exec(greeting) ?? [];
  assert.ok(member !== undefined && path !== undefined, greeting);
  const echoed = once(client, 'message');
  client.send('ping');
  assert.equal(String((await echoed)[0]), `${member}: ping`);
  return { client, member, path, cookie };
}

async function closeAll(tunnels: readonly Tunnel[]): Promise<void> {
  await Promise.all(
    tunnels.map(async ({ client }) => {
      const closed = once(client, 'close');
      client.close();
      await closed;
    }),
  );
}

interface Page {
  balancers: { name: string; method: string; members: { name: string; status: string; busy: number }[] }[];
}

async function manager(origin: string, body?: unknown): Promise<{ status: number; page: Page }> {
  const response = await fetch(
    `${origin}/balancer-manager`,
    body === undefined
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
  );
  return { status: response.status, page: (await response.json()) as Page };
}

const busy = (page: Page): Record<string, string> =>
  Object.fromEntries(page.balancers[0]!.members.map((m) => [m.name, `${m.status} ${m.busy}`]));

test('examples/balancer: spreads tunnels, sets ROUTEID, drains a member through the manager, stops on SIGTERM', async () => {
  const example = await startExample();
  const url = `${example.origin.replace(/^http/, 'ws')}/ws/room`;
  const held: Tunnel[] = [];
  try {
    // bybusyness: with every earlier tunnel still open, three tunnels reach the three members.
    for (let at = 0; at < 3; at++) held.push(await openTunnel(url));
    assert.deepEqual(held.map((t) => t.member).sort(), ['m1', 'm2', 'm3']);
    for (const { member, path, cookie } of held) {
      assert.equal(path, '/room', 'the /ws/ mount is replaced by the member URL');
      // The Set-Cookie recipe: the 101 names the member's route.
      assert.equal(cookie, `ROUTEID=.${member}; Path=/`);
    }
    await example.line(/^open \/ws\/room -> m3$/);
    const read = await manager(example.origin);
    assert.equal(read.status, 200);
    assert.equal(read.page.balancers[0]!.method, 'bybusyness');
    assert.deepEqual(busy(read.page), { m1: 'Ok 1', m2: 'Ok 1', m3: 'Ok 1' });

    // Drain m2 through the manager, as the README's curl does.
    const drained = await manager(example.origin, {
      balancer: 'chat',
      member: 'm2',
      set: { status: { draining: true } },
    });
    assert.equal(drained.status, 200);
    assert.deepEqual(busy(drained.page), { m1: 'Ok 1', m2: 'N 1', m3: 'Ok 1' });
    await example.line(/^balancer m2 changed \{"status":\{"draining":true\}\}$/);

    // New tunnels avoid m2; its open tunnel stays.
    const later: Tunnel[] = [];
    for (let at = 0; at < 4; at++) later.push(await openTunnel(url));
    held.push(...later);
    assert.deepEqual(later.map((t) => t.member).sort(), ['m1', 'm1', 'm3', 'm3']);
    assert.equal(held.find((t) => t.member === 'm2')!.client.readyState, WebSocket.OPEN);
    // A sticky session routed to m2 still reaches it, and keeps its cookie (no Set-Cookie: the route did not change).
    const sticky = await openTunnel(url, { cookie: 'ROUTEID=.m2' });
    held.push(sticky);
    assert.deepEqual([sticky.member, sticky.cookie], ['m2', undefined]);
    assert.deepEqual(busy((await manager(example.origin)).page), { m1: 'Ok 3', m2: 'N 2', m3: 'Ok 3' });

    // The README's client script says the same.
    const client = start(['client.ts', '2', url]);
    assert.match(
      (await client.line(/^#1 .*$/))[0],
      /^#1 m[13]: connected to \/room {3}\(Set-Cookie: ROUTEID=\.m[13]; Path=\/\)$/,
    );
    assert.match((await client.line(/^#2 .*$/))[0], /^#2 m[13]: connected to \/room/);
    await client.line(/^holding 2 tunnels open/);
    client.child.kill('SIGTERM');
    assert.deepEqual(await client.exited, [0, null], client.output());
    const stickyClient = start(['client.ts', '1', url], { ROUTE: 'm2' });
    assert.equal((await stickyClient.line(/^#1 .*$/))[0], '#1 m2: connected to /room');
    stickyClient.child.kill('SIGTERM');
    assert.deepEqual(await stickyClient.exited, [0, null], stickyClient.output());

    // The manager takes JSON only (a cross-site form cannot send it).
    const notJson = await fetch(`${example.origin}/balancer-manager`, { method: 'POST', body: 'drain m1' });
    assert.equal(notJson.status, 415);
    await notJson.body?.cancel();
  } finally {
    await closeAll(held);
  }
  await stop(example);
  assert.match(example.output(), /^SIGTERM: draining$/m);
});

test('examples/balancer: BACKENDS names the members, in order, paths included', async () => {
  const backends = await Promise.all(
    ['x', 'y'].map(async (name) => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      wss.on('connection', (socket, req) => {
        socket.send(`${name}: connected to ${req.url}`);
        socket.on('message', (data) => socket.send(`${name}: ${String(data)}`));
      });
      await once(wss, 'listening');
      return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
    }),
  );
  const tunnels: Tunnel[] = [];
  try {
    const example = await startExample({ BACKENDS: `${backends[0]!.url}/, ${backends[1]!.url}/base` });
    await example.line(new RegExp(`^member m1 ${backends[0]!.url}$`));
    await example.line(new RegExp(`^member m2 ${backends[1]!.url}/base$`));
    const url = `${example.origin.replace(/^http/, 'ws')}/ws/room?x=1`;
    for (let at = 0; at < 2; at++) tunnels.push(await openTunnel(url));
    assert.deepEqual(tunnels.map((t) => [t.member, t.path, t.cookie]).sort(), [
      ['x', '/room?x=1', 'ROUTEID=.m1; Path=/'],
      ['y', '/base/room?x=1', 'ROUTEID=.m2; Path=/'],
    ]);
    await closeAll(tunnels.splice(0));
    await stop(example);
  } finally {
    await closeAll(tunnels);
    for (const { wss } of backends) wss.close();
  }
});
