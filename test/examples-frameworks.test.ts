// Why: the Express, Koa and Fastify examples are documentation that runs: each is started the way its package.json
// says, and the three mod_proxy_wstunnel recipes, the auth check and the graceful shutdown are used for real.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { handshakeRequest, rawConnect, readHead, statusOf } from './helpers/net.ts';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
type Framework = (typeof FRAMEWORKS)[number];
const TOKEN = 'let-me-in';
/** Bounds: the whole file must stay well under 20 s, and a hung example must fail, not stall the run. */
const STARTUP_MS = 10_000;
const EXIT_MS = 8_000;
const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

interface Example {
  readonly origin: string;
  readonly child: ChildProcess;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  readonly output: () => string;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `examples/<fw>` with its package.json `start` command (run by this Node), and waits for its URL. */
async function startExample(framework: Framework, env: Record<string, string> = {}): Promise<Example> {
  const cwd = fileURLToPath(new URL(`../examples/${framework}/`, import.meta.url));
  const script = JSON.parse(readFileSync(`${cwd}package.json`, 'utf8')).scripts.start as string;
  const [command, ...args] = script.split(' ');
  assert.equal(command, 'node', `the start script runs node: ${script}`);
  const inherited = { ...process.env };
  for (const name of ['BACKEND', 'BACKEND_TLS', 'TOKEN', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT'])
    delete inherited[name];
  const child = spawn(process.execPath, args, { cwd, env: { ...inherited, PORT: '0', ...env } });
  running.add(child);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  void exited.then(() => running.delete(child));
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    output += `${line}\n`;
  });
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no URL within ${STARTUP_MS} ms:\n${output}`)),
      STARTUP_MS,
    );
    lines.on('line', (line) => {
      const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
      if (url === undefined) return;
      clearTimeout(timer);
      resolve(url);
    });
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`${framework} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return { origin: await listening, child, exited, output: () => output };
}

/** SIGTERM, then a clean exit within the bound. */
async function stop(example: Example): Promise<void> {
  const started = Date.now();
  example.child.kill('SIGTERM');
  const timer = setTimeout(() => example.child.kill('SIGKILL'), EXIT_MS);
  const [code, signal] = await example.exited;
  clearTimeout(timer);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, example.output());
  assert.ok(Date.now() - started < EXIT_MS, `exit took ${Date.now() - started} ms`);
}

interface Greeting {
  readonly path: string;
  readonly protocol: string;
  readonly user?: string;
  readonly backend?: string;
  readonly authorization?: string;
}

/** Opens a WebSocket, reads the backend's greeting (what it saw), round-trips a message, and leaves it open. */
async function open(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<{ client: WebSocket; greeting: Greeting }> {
  const client = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
  // The greeting can arrive in the same read as the 101: listen before the socket opens.
  const first = new Promise<Buffer>((resolve, reject) => {
    client.once('message', (data: Buffer) => resolve(data));
    client.once('error', reject);
    client.once('unexpected-response', (_req, res: IncomingMessage) =>
      reject(new Error(`${url}: unexpected response ${res.statusCode}`)),
    );
  });
  const greeting = JSON.parse((await first).toString()) as Greeting;
  const echoed = once(client, 'message');
  client.send(`hello ${url}`);
  assert.equal(String((await echoed)[0]), `hello ${url}`, `echo through ${url}`);
  return { client, greeting };
}

/** Opens, checks, and closes a WebSocket; resolves with what the backend saw. */
async function tunnelled(url: string, options: Parameters<typeof open>[1] = {}): Promise<Greeting> {
  const { client, greeting } = await open(url, options);
  const closed = once(client, 'close');
  client.close();
  await closed;
  return greeting;
}

/** The response head a WebSocket handshake gets, read raw: no 101 may come before it. */
async function handshakeHead(
  origin: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const port = Number(new URL(origin).port);
  const socket = await rawConnect(port);
  try {
    socket.write(handshakeRequest(path, headers, port));
    return (await readHead(socket)).head;
  } finally {
    socket.destroy();
  }
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.text() };
}

/** Everything the example promises, whatever backend it is in front of. */
async function checkRecipes(origin: string, backend: string | undefined): Promise<void> {
  const ws = origin.replace(/^http/, 'ws');
  const only = <T extends object>(value: T, keys: (keyof T)[]): Partial<T> =>
    Object.fromEntries(keys.map((key) => [key, value[key]])) as Partial<T>;

  // 1. ProxyPass "/ws2/" "ws://…/": the prefix is stripped, the query and subprotocol are kept.
  const ws2 = await tunnelled(`${ws}/ws2/chat?x=1`, { protocols: ['chat'] });
  assert.deepEqual(only(ws2, ['path', 'protocol', 'backend']), {
    path: '/chat?x=1',
    protocol: 'chat',
    backend,
  });
  // 2. ProxyPassMatch ^/(myApp/ws)$ before ProxyPass / http://…
  assert.deepEqual(only(await tunnelled(`${ws}/myApp/ws`), ['path', 'backend']), {
    path: '/myApp/ws',
    backend,
  });
  // 3. RewriteCond %{HTTP:Upgrade} websocket [NC] … RewriteRule [P] under /app/.
  assert.deepEqual(only(await tunnelled(`${ws}/app/room/1?y=2`), ['path', 'backend']), {
    path: '/app/room/1?y=2',
    backend,
  });
  // Plain requests: the HTTP catch-all, and /app/ without an upgrade.
  for (const path of ['/', '/index.html', '/app/page?q=1', '/myApp/ws']) {
    const { status, body } = await get(`${origin}${path}`);
    assert.equal(status, 200, `GET ${path}`);
    assert.deepEqual(JSON.parse(body), { backend: 'http', method: 'GET', path }, `GET ${path}`);
  }
  // The auth check answers before any 101, and only for its own route.
  const refused = await handshakeHead(origin, '/private/feed');
  assert.equal(statusOf(refused), 401, refused);
  const wrong = await handshakeHead(origin, '/private/feed', { Authorization: 'Bearer nope' });
  assert.equal(statusOf(wrong), 401, wrong);
  assert.equal((await get(`${origin}/private/page`)).status, 401);
  // The guard covers /private itself, not only what is under it (the Koa example once let it reach the catch-all).
  assert.equal((await get(`${origin}/private`)).status, 401);
  assert.equal(statusOf(await handshakeHead(origin, '/private')), 401);
  const byHeader = await tunnelled(`${ws}/private/feed`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.deepEqual(only(byHeader, ['path', 'user', 'backend']), {
    path: '/private/feed',
    user: 'token-holder',
    backend,
  });
  const byQuery = await tunnelled(`${ws}/private/feed?token=${TOKEN}`);
  assert.equal(byQuery.path, `/private/feed?token=${TOKEN}`);
  const page = await get(`${origin}/private/page`, { Authorization: `Bearer ${TOKEN}` });
  assert.equal(page.status, 200);
  assert.equal(JSON.parse(page.body).path, '/private/page');
}

/** A backend like the examples' embedded one, that says who it is and records what reached it. */
async function startBackend(
  name: string,
  server: Server,
): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  server.on('request', (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ backend: 'http', method: req.method, path: req.url }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push(`WS ${req.url}`);
    const user = req.headers['x-user'];
    const authorization = req.headers.authorization;
    socket.send(
      JSON.stringify({ path: req.url, protocol: socket.protocol, user, authorization, backend: name }),
    );
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `${name === 'tls' ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('examples with their embedded backend (BACKEND unset)', { concurrency: true }, () => {
  for (const framework of FRAMEWORKS) {
    test(`examples/${framework}: the three recipes, the auth check, and a clean SIGTERM`, async () => {
      const example = await startExample(framework);
      const ws = example.origin.replace(/^http/, 'ws');
      await checkRecipes(example.origin, undefined);
      // Without BACKEND_TLS, /wss2/ reaches the same backend over ws://, as the README says.
      const wss2 = await tunnelled(`${ws}/wss2/room`);
      assert.equal(wss2.path, '/room');
      await stop(example);
    });
  }
});

describe('examples in front of an external BACKEND and BACKEND_TLS', { concurrency: true }, () => {
  for (const framework of FRAMEWORKS) {
    test(`examples/${framework}: every route reaches the named backends; SIGTERM drains an open tunnel`, async () => {
      const plain = await startBackend('external', createHttpServer());
      const tls = await startBackend(
        'tls',
        createHttpsServer({
          key: readFileSync(fixture('server.key')),
          cert: readFileSync(fixture('server.pem')),
        }),
      );
      try {
        const example = await startExample(framework, {
          BACKEND: `${plain.url}/`,
          BACKEND_TLS: tls.url,
          NODE_EXTRA_CA_CERTS: fixture('ca.pem'),
        });
        const ws = example.origin.replace(/^http/, 'ws');
        await checkRecipes(example.origin, 'external');
        // The 401s never reached the backend; the authorised requests did, without the token header.
        assert.deepEqual(
          plain.seen.filter((line) => line.includes('/private/')),
          ['WS /private/feed', `WS /private/feed?token=${TOKEN}`, 'GET /private/page'],
        );
        const byHeader = await tunnelled(`${ws}/private/x`, {
          headers: { Authorization: `Bearer ${TOKEN}` },
        });
        assert.equal(byHeader.authorization, undefined);
        // Recipe 1's wss:// half: /wss2/ goes to the TLS backend, verified against the CA given to Node.
        const wss2 = await tunnelled(`${ws}/wss2/room?z=3`, { protocols: ['chat'] });
        assert.deepEqual(wss2, { path: '/room?z=3', protocol: 'chat', backend: 'tls' });
        // A tunnel still open at SIGTERM is ended by the drain, and the process still exits 0.
        const { client } = await open(`${ws}/ws2/held`);
        const clientClosed = once(client, 'close');
        await stop(example);
        await clientClosed;
      } finally {
        await plain.close();
        await tls.close();
      }
    });
  }
});
