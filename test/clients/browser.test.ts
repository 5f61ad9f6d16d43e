// Why: the client that matters most is a browser: Chromium opens `new WebSocket()` from a page the app served, with
// its own Origin, cookies, masking and subprotocol checks, through each adapter (and the gateway) to a `ws` backend;
// a refused upgrade must look to the page like any refused WebSocket (error, close 1006, never open).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { startEchoBackend } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { closeServer } from '../helpers/net.ts';
import { type Adapter, adapters, type Page, startApp } from './apps.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (CI installs Debian's chromium package): browser tests skipped`;

const defer = cleanupAfterEach();

const SESSION = 'session=letmein';
const HTML = '<!doctype html><html><head><title>wstunnel</title></head><body>client</body></html>';
/** `/` is the page; `/login` is the same page, logging the browser in with a session cookie. */
const PAGES: Record<string, Page> = {
  '/': { html: HTML },
  '/login': { html: HTML, setCookie: `${SESSION}; Path=/; HttpOnly` },
};

/** The app's auth guard: WebSocket URLs need the session cookie. */
function loggedIn(req: IncomingMessage): boolean {
  return (req.headers.cookie ?? '').split(/;\s*/).includes(SESSION);
}

/** The backend picks `chat.v2` when offered, and no subprotocol otherwise. */
function pickProtocol(protocols: Set<string>): string | false {
  return protocols.has('chat.v2') ? 'chat.v2' : false;
}

/** A running front (adapter app or gateway) with a `ws` echo backend behind `/ws2/`. */
interface Front {
  /** `http://127.0.0.1:port`, serving the pages. */
  readonly url: string;
  /** Upgrades that reached the backend, in order. */
  readonly upgrades: IncomingMessage[];
  /** URLs of upgrades refused with 403 (by the app's guard, or for the gateway by the backend). */
  readonly refused: string[];
}

async function startFront(kind: Adapter | 'gateway', perMessageDeflate = false): Promise<Front> {
  const refused: string[] = [];
  if (kind === 'gateway') return startGatewayFront(refused, perMessageDeflate);
  const backend = await startEchoBackend({ handleProtocols: pickProtocol, perMessageDeflate });
  defer(() => backend.close());
  const app = await startApp(kind, {
    mount: '/ws2',
    target: backend.origin,
    pages: PAGES,
    allow: (req) => {
      if (!req.url?.startsWith('/ws2/') || loggedIn(req)) return true;
      refused.push(req.url);
      return false;
    },
  });
  defer(() => app.close());
  return { url: app.url, upgrades: backend.requests, refused };
}

/** The gateway cannot serve pages or check sessions: its backend does both, behind an http:// and a ws:// rule. */
async function startGatewayFront(refused: string[], perMessageDeflate: boolean): Promise<Front> {
  const server = createServer((req, res) => {
    const page = PAGES[req.url ?? ''];
    if (page === undefined) return void res.writeHead(404).end();
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (page.setCookie !== undefined) res.setHeader('set-cookie', page.setCookie);
    res.end(page.html);
  });
  const upgrades: IncomingMessage[] = [];
  const wss = new WebSocketServer({
    server,
    handleProtocols: pickProtocol,
    perMessageDeflate,
    verifyClient: ({ req }, done) => {
      if (loggedIn(req)) return done(true);
      refused.push(req.url ?? '');
      done(false, 403);
    },
  });
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  defer(async () => {
    for (const client of wss.clients) client.terminate();
    await closeServer(server);
  });
  const gateway = await startTestGateway({
    rules: [
      { path: '/ws2/', target: `ws://127.0.0.1:${port}/` },
      { path: '/', target: `http://127.0.0.1:${port}/` },
    ],
  });
  defer(() => gateway.close(0));
  return { url: gateway.url, upgrades, refused };
}

/** What the page saw, in order. */
type Seen =
  | { type: 'open'; protocol: string; extensions: string }
  | { type: 'error' }
  | { type: 'text'; data: string }
  | { type: 'binary'; bytes: number; intact: boolean }
  | { type: 'close'; code: number; wasClean: boolean };

interface Script {
  readonly url: string;
  readonly protocols: string[];
  /** Once open: send a text and a binary message, wait for each echo, then close with 1000. */
  readonly exchange: boolean;
}

/** Runs in the page (serialised by playwright: no closures); every wait is bounded by a 5 s timer. */
async function inPage({ url, protocols, exchange }: Script): Promise<Seen[]> {
  const seen: Seen[] = [];
  const waiting: (() => void)[] = [];
  const record = (entry: Seen): void => {
    seen.push(entry);
    for (const wake of waiting.splice(0)) wake();
  };
  const until = (type: Seen['type'] | 'open-or-close'): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} in 5 s; saw ${JSON.stringify(seen)}`)),
        5000,
      );
      const check = (): void => {
        const found = seen.some((e) => e.type === type || (type === 'open-or-close' && e.type !== 'error'));
        if (!found) return void waiting.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  const pattern = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 251);
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => record({ type: 'open', protocol: ws.protocol, extensions: ws.extensions });
  ws.onerror = () => record({ type: 'error' });
  ws.onclose = (event) => record({ type: 'close', code: event.code, wasClean: event.wasClean });
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') return record({ type: 'text', data: event.data });
    const bytes = new Uint8Array(event.data as ArrayBuffer);
    const expected = pattern(bytes.length);
    record({ type: 'binary', bytes: bytes.length, intact: bytes.every((b, i) => b === expected[i]) });
  };
  await until('open-or-close');
  if (exchange && ws.readyState === WebSocket.OPEN) {
    ws.send('héllo ✓ from the browser');
    await until('text');
    // Over 65 535 bytes: the browser writes a 64-bit length, masked, likely in several TCP segments.
    ws.send(pattern(70_000));
    await until('binary');
    ws.close(1000, 'done');
  }
  await until('close');
  return seen;
}

describe('Chromium WebSocket through each adapter and the gateway', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 10_000 });
  });
  after(async () => {
    await browser?.close();
  });

  /** A fresh browser context (no cookies) on `path` of the front, closed after the test. */
  async function openPage(front: Front, path: string) {
    const page = await browser.newPage();
    defer(() => page.close());
    page.setDefaultTimeout(5000);
    const response = await page.goto(`${front.url}${path}`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'wstunnel');
    return page;
  }

  for (const kind of [...adapters, 'gateway'] as const) {
    describe(kind, () => {
      test('a page the app served echoes text and binary through the tunnel', {
        timeout: 10_000,
      }, async () => {
        const front = await startFront(kind);
        const page = await openPage(front, '/login');
        const ws = front.url.replace('http:', 'ws:') + '/ws2/echo?room=1';
        const seen = await page.evaluate(inPage, { url: ws, protocols: [], exchange: true });
        assert.deepEqual(seen, [
          { type: 'open', protocol: '', extensions: '' },
          { type: 'text', data: 'héllo ✓ from the browser' },
          { type: 'binary', bytes: 70_000, intact: true },
          { type: 'close', code: 1000, wasClean: true },
        ]);
        assert.equal(front.upgrades.length, 1);
        const [upgrade] = front.upgrades;
        assert.equal(upgrade?.url, '/echo?room=1');
        assert.equal(upgrade?.headers.origin, front.url);
        assert.match(upgrade?.headers.cookie ?? '', /session=letmein/);
        assert.deepEqual(front.refused, []);
      });

      test('ws.protocol is the subprotocol the backend picked', { timeout: 10_000 }, async () => {
        const front = await startFront(kind);
        const page = await openPage(front, '/login');
        const ws = front.url.replace('http:', 'ws:') + '/ws2/chat';
        const seen = await page.evaluate(inPage, {
          url: ws,
          protocols: ['chat.v1', 'chat.v2'],
          exchange: true,
        });
        assert.deepEqual(seen[0], { type: 'open', protocol: 'chat.v2', extensions: '' });
        assert.deepEqual(seen.at(-1), { type: 'close', code: 1000, wasClean: true });
        assert.equal(front.upgrades[0]?.headers['sec-websocket-protocol'], 'chat.v1, chat.v2');
      });

      test('permessage-deflate the backend accepts is negotiated end to end', {
        timeout: 10_000,
      }, async () => {
        const front = await startFront(kind, true);
        const page = await openPage(front, '/login');
        const ws = front.url.replace('http:', 'ws:') + '/ws2/deflate';
        const seen = await page.evaluate(inPage, { url: ws, protocols: [], exchange: true });
        // Compressed frames (RSV1 set) cross the tunnel untouched and inflate to the same messages.
        assert.deepEqual(seen, [
          { type: 'open', protocol: '', extensions: 'permessage-deflate' },
          { type: 'text', data: 'héllo ✓ from the browser' },
          { type: 'binary', bytes: 70_000, intact: true },
          { type: 'close', code: 1000, wasClean: true },
        ]);
        assert.match(front.upgrades[0]?.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate/);
      });

      test('a refused upgrade (403) is an error and close 1006 in the page, never open', {
        timeout: 10_000,
      }, async () => {
        const front = await startFront(kind);
        const page = await openPage(front, '/');
        const ws = front.url.replace('http:', 'ws:') + '/ws2/echo';
        // Chromium names the status it got in the console; the page itself only sees 1006.
        const report = page.waitForEvent('console', {
          // Not the favicon's 404, which Chromium reports there too.
          predicate: (message) => message.text().startsWith('WebSocket connection'),
          timeout: 5000,
        });
        report.catch(() => undefined); // Awaited below; not unhandled if the page fails first.
        const seen = await page.evaluate(inPage, { url: ws, protocols: [], exchange: true });
        assert.deepEqual(seen, [{ type: 'error' }, { type: 'close', code: 1006, wasClean: false }]);
        assert.match(
          (await report).text(),
          /Error during WebSocket handshake: Unexpected response code: 403$/,
        );
        assert.deepEqual(front.refused, [kind === 'gateway' ? '/echo' : '/ws2/echo']);
        assert.equal(front.upgrades.length, 0);
      });
    });
  }
});
