/**
 * Why: the security tests speak raw bytes to the gateway and script raw backends; this module keeps the shared
 * plumbing (fixtures that always close, byte collectors that wait on events, response parsing, event-loop
 * barriers) out of the test files.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach } from 'node:test';
import type { PrefixRule, WstunnelOptions } from '@wstunnel/core';
import { type EchoBackend, startEchoBackend, startRawBackend } from '../helpers/backends.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { rawConnect } from '../helpers/net.ts';

/** Per-test timeout: a hang is a failure, never a stuck suite. */
export const TEST_TIMEOUT_MS = 5_000;

/** The RFC 6455 sample key used by every scripted handshake. */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Builds a raw request head; `headers` are written in order, `[name, value]` pairs, duplicates allowed. */
export function rawRequest(requestLine: string, headers: readonly (readonly [string, string])[]): string {
  let text = `${requestLine}\r\n`;
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

/** The usual WebSocket handshake header pairs, optionally followed by `extra` pairs. */
export function wsHeaders(
  extra: readonly (readonly [string, string])[] = [],
  host = 'front.example',
): [string, string][] {
  return [
    ['Host', host],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', SAMPLE_KEY],
    ['Sec-WebSocket-Version', '13'],
    ...extra.map(([n, v]) => [n, v] as [string, string]),
  ];
}

/** A complete WebSocket handshake for `path`, as bytes. */
export function wsHandshake(path: string, extra: readonly (readonly [string, string])[] = []): string {
  return rawRequest(`GET ${path} HTTP/1.1`, wsHeaders(extra));
}

/** A parsed HTTP response. Header names are lower-cased; values are latin1 strings (bytes preserved). */
export interface ParsedResponse {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  /** The head text (latin1) without the blank line. */
  readonly head: string;
}

/** Parses the first response in `bytes` (CRLF-delimited head; the body is every byte after the head). */
export function parseResponse(bytes: Buffer | string): ParsedResponse {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const end = buffer.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, `no complete response head in ${JSON.stringify(buffer.toString('latin1'))}`);
  const head = buffer.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const statusLine = lines[0]!;
  const status = Number(/^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1] ?? Number.NaN);
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
  });
  return { statusLine, status, headers, body: buffer.subarray(end + 4), head };
}

/** All values of header `name` (case-insensitive) in a parsed response or a list of pairs. */
export function values(
  source: ParsedResponse | readonly (readonly [string, string])[],
  name: string,
): string[] {
  const pairs = 'headers' in source ? source.headers : source;
  const lower = name.toLowerCase();
  return pairs.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Header lines of a request head as [lower-case name, value] pairs, in order (request line excluded). */
export function requestHeaderPairs(head: string): [string, string][] {
  return head
    .split('\r\n')
    .slice(1)
    .filter((line) => line !== '')
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
}

/** The request line of a request head. */
export function requestLine(head: string): string {
  return head.split('\r\n')[0]!;
}

/** The values of each X-Forwarded-* field in a request head, for one `deepEqual` on all three. */
export function forwardedFields(head: string): { for: string[]; host: string[]; proto: string[] } {
  const pairs = requestHeaderPairs(head);
  return {
    for: values(pairs, 'x-forwarded-for'),
    host: values(pairs, 'x-forwarded-host'),
    proto: values(pairs, 'x-forwarded-proto'),
  };
}

/**
 * Asserts `bytes` hold exactly one complete error response written by the gateway: `status`, `Connection: close`,
 * a Content-Length matching a short, non-empty body, and nothing after it.
 */
export function assertGatewayError(bytes: Buffer | string, status: number): ParsedResponse {
  const response = parseResponse(bytes);
  assert.equal(response.status, status, `expected ${status}, got ${JSON.stringify(response.head)}`);
  const connection = values(response, 'connection').join(',').toLowerCase();
  assert.ok(
    connection.split(',').some((token) => token.trim() === 'close'),
    `Connection: close missing from ${JSON.stringify(response.head)}`,
  );
  const lengths = values(response, 'content-length');
  assert.equal(lengths.length, 1, `exactly one Content-Length expected in ${JSON.stringify(response.head)}`);
  assert.equal(Number(lengths[0]), response.body.length, 'Content-Length must match the body');
  assert.ok(response.body.length > 0 && response.body.length < 512, 'the body must be short and non-empty');
  return response;
}

/** Accumulates every byte a socket receives and lets tests wait for conditions on them, event-driven. */
export class Collector {
  readonly socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #waiters: (() => void)[] = [];
  /** Resolves when the peer has finished sending (EOF, reset or close). */
  readonly ended: Promise<Buffer>;

  constructor(socket: Socket) {
    this.socket = socket;
    let resolveEnded!: (buffer: Buffer) => void;
    this.ended = new Promise((resolve) => {
      resolveEnded = resolve;
    });
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#notify();
    });
    const finish = (): void => {
      if (this.#ended) return;
      this.#ended = true;
      resolveEnded(this.#buffer);
      this.#notify();
    };
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', () => undefined);
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    return this.#buffer;
  }

  /** Everything received so far, as latin1 text. */
  get text(): string {
    return this.#buffer.toString('latin1');
  }

  /** Whether the peer has finished sending. */
  get isEnded(): boolean {
    return this.#ended;
  }

  /** Resolves once `predicate(bytes)` holds; rejects if the peer finishes first. */
  until(predicate: (bytes: Buffer) => boolean, what: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (predicate(this.#buffer)) {
          resolve(this.#buffer);
          return true;
        }
        if (this.#ended) {
          reject(new Error(`peer finished before ${what}; got ${JSON.stringify(this.text.slice(0, 600))}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const waiter = (): void => {
        if (check()) this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves with the head (text before the blank line) once a complete response head has arrived. */
  async head(): Promise<string> {
    const bytes = await this.until((b) => b.includes('\r\n\r\n'), 'a complete response head');
    return bytes.subarray(0, bytes.indexOf('\r\n\r\n')).toString('latin1');
  }

  /**
   * Resolves with the first response once it is complete: its whole Content-Length body has arrived, or (without
   * one) the peer has finished sending. Works on kept-alive connections, where `ended` would never come.
   */
  async response(): Promise<ParsedResponse> {
    const complete = (bytes: Buffer): boolean => {
      const end = bytes.indexOf('\r\n\r\n');
      if (end === -1) return false;
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(bytes.subarray(0, end).toString('latin1'))?.[1];
      return length !== undefined && bytes.length >= end + 4 + Number(length);
    };
    const bytes = await this.until(complete, 'a complete response').catch(() => this.ended);
    return parseResponse(bytes);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** One connection a scripted backend accepted, after its request head arrived. */
export interface BackendConn {
  readonly socket: Socket;
  /** Request head text (latin1) without the blank line. */
  readonly head: string;
  /** Bytes received after the head so far (grows). */
  readonly received: Buffer[];
  /** Resolves when the gateway has finished sending on this connection (FIN or close). */
  readonly closed: Promise<void>;
}

/** A raw backend whose connections tests can inspect and drive. */
export interface ScriptedBackend {
  readonly port: number;
  /** `ws://127.0.0.1:port`. */
  readonly origin: string;
  /** TCP connections accepted (with or without a complete head). */
  readonly connections: () => number;
  /** Connections whose head arrived, in order. */
  readonly conns: BackendConn[];
  /** Resolves with the next connection whose head arrives (in arrival order). */
  nextConn(): Promise<BackendConn>;
  /** All bytes received after the head on connection `index`. */
  receivedAfterHead(index: number): Buffer;
  /** Resolves when the gateway has finished sending on every connection accepted so far. */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

/** What a scripted backend does once a request head has arrived on a connection. */
export type ConnScript = (conn: BackendConn) => void;

/** Starts a raw backend; `script` runs on each connection once its head has arrived. */
export async function startScriptedBackend(script: ConnScript = () => undefined): Promise<ScriptedBackend> {
  const sockets: Socket[] = [];
  const closes: Promise<void>[] = [];
  const conns: BackendConn[] = [];
  let delivered = 0;
  const waiting: ((conn: BackendConn) => void)[] = [];
  const raw = await startRawBackend((socket, head) => {
    const index = sockets.indexOf(socket);
    const conn: BackendConn = {
      socket,
      head,
      received: raw.bodies[index]!,
      closed: closes[index]!,
    };
    conns.push(conn);
    const waiter = waiting.shift();
    if (waiter !== undefined) {
      delivered++;
      waiter(conn);
    }
    script(conn);
  });
  raw.server.on('connection', (socket: Socket) => {
    sockets.push(socket);
    // The backend sockets are half-open capable, so the gateway's FIN ('end') is the signal, not 'close'.
    // A reset ('error') also ends the connection; once() rejects on it, which must not become unhandled.
    closes.push(
      Promise.race([once(socket, 'end'), once(socket, 'close')]).then(
        () => undefined,
        () => undefined,
      ),
    );
  });
  return {
    port: raw.port,
    origin: raw.origin,
    connections: () => raw.connections,
    conns,
    nextConn() {
      if (delivered < conns.length) return Promise.resolve(conns[delivered++]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
    receivedAfterHead: (index) => Buffer.concat(raw.bodies[index] ?? []),
    allClosed: async () => {
      await Promise.all(closes);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await raw.close();
    },
  };
}

/** Owns everything a test starts and closes it all, clients first, in `afterEach`. */
export class Fixture {
  /** One fixture for every test of the calling file, closed (and emptied for the next test) after each. */
  static perTest(): Fixture {
    const fixture = new Fixture();
    afterEach(() => fixture.close());
    return fixture;
  }

  readonly #clients: Socket[] = [];
  readonly #gateways: TestGateway[] = [];
  readonly #backends: { close(): Promise<void> }[] = [];

  async gateway(tunnel: WstunnelOptions): Promise<TestGateway> {
    const gateway = await startTestGateway(tunnel);
    this.#gateways.push(gateway);
    return gateway;
  }

  async backend(script?: ConnScript): Promise<ScriptedBackend> {
    const backend = await startScriptedBackend(script);
    this.#backends.push(backend);
    return backend;
  }

  async echo(): Promise<EchoBackend> {
    const backend = await startEchoBackend();
    this.#backends.push(backend);
    return backend;
  }

  /** Opens a raw client connection to `port` and starts collecting what it receives. */
  async client(port: number): Promise<Collector> {
    const socket = await rawConnect(port);
    this.#clients.push(socket);
    return new Collector(socket);
  }

  /** Sends `request` on a new connection and resolves with everything received until the gateway finishes. */
  async exchange(port: number, request: string | Buffer): Promise<Buffer> {
    const client = await this.client(port);
    client.socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
    return client.ended;
  }

  async close(): Promise<void> {
    for (const socket of this.#clients.splice(0)) socket.destroy();
    for (const gateway of this.#gateways.splice(0)) await gateway.close(0);
    for (const backend of this.#backends.splice(0)) await backend.close();
  }
}

/**
 * Waits until the gateway's event loop has served a complete request on a fresh connection. Everything the
 * test wrote to other sockets before calling this was in the kernel earlier, so by the time this resolves the
 * gateway has read it and acted on it (all sockets are in this one process, served by one loop).
 */
export async function barrier(gatewayPort: number): Promise<void> {
  const socket = await rawConnect(gatewayPort);
  try {
    const collector = new Collector(socket);
    socket.write('GET /__barrier__ HTTP/1.1\r\nHost: barrier\r\nConnection: close\r\n\r\n');
    const response = await collector.ended;
    assert.ok(response.toString('latin1').startsWith('HTTP/1.1 '), 'the barrier request got no answer');
  } finally {
    socket.destroy();
  }
}

/** Resolves when `socket` has handed `data` to the kernel. */
export function writeFully(socket: Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/** Resolves once connection `conn` has received at least `length` bytes after its head. */
export function receivedAtLeast(conn: BackendConn, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const all = Buffer.concat(conn.received);
      if (all.length < length) return false;
      conn.socket.off('data', onData);
      conn.socket.off('close', onClose);
      resolve(all);
      return true;
    };
    const onData = (): void => void check();
    const onClose = (): void => {
      if (!check())
        reject(
          new Error(
            `backend connection closed after ${Buffer.concat(conn.received).length} of ${length} bytes`,
          ),
        );
    };
    if (check()) return;
    conn.socket.on('data', onData);
    conn.socket.on('close', onClose);
  });
}

/** How many HTTP/1.x status lines `text` holds. */
export function statusLineCount(text: string): number {
  return (text.match(/HTTP\/1\.[01] \d{3}/g) ?? []).length;
}

/** A correct 101 for the sample key, with `extra` raw header lines (each ending in CRLF). */
export function switching101(extra = '', upgrade = 'websocket'): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${extra}\r\n`;
}

/** Per-rule options a test may set on the `/ws/` rule. */
export type RuleOptions = Omit<PrefixRule, 'path' | 'target'>;

/** Starts a scripted backend (see {@link Fixture.backend}) and a gateway in front of it: `/ws/` -> backend `/base/`. */
export async function gatewayTo(
  fx: Fixture,
  script?: ConnScript,
  rule: RuleOptions = {},
): Promise<{ backend: ScriptedBackend; gateway: TestGateway }> {
  const backend = await fx.backend(script);
  const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, ...rule }] });
  return { backend, gateway };
}

/** {@link gatewayTo}, then a client connection that has sent `request` to the gateway (nothing awaited on it). */
export async function sendThrough(
  fx: Fixture,
  script: ConnScript,
  request: string,
  rule: RuleOptions = {},
): Promise<{ backend: ScriptedBackend; gateway: TestGateway; client: Collector }> {
  const { backend, gateway } = await gatewayTo(fx, script, rule);
  const client = await fx.client(gateway.port);
  client.socket.write(Buffer.from(request, 'latin1'));
  return { backend, gateway, client };
}

/**
 * Sends `request` through a gateway (`/ws/` -> backend `/base/`) to a backend answering a correct 101; resolves
 * with the request head the backend received and the head the client got back.
 */
export async function forwardThrough(
  fx: Fixture,
  request: string | Buffer,
  rule: RuleOptions = {},
): Promise<{ backendHead: string; clientHead: string; backendPort: number }> {
  const backend = await fx.backend(({ socket }) => socket.write(switching101()));
  const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, ...rule }] });
  const client = await fx.client(gw.port);
  client.socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  const clientHead = await client.head();
  assert.match(clientHead, /^HTTP\/1\.1 101 /, 'the handshake was not tunnelled');
  assert.equal(backend.conns.length, 1);
  return { backendHead: backend.conns[0]!.head, clientHead, backendPort: backend.port };
}

/**
 * Sends a WebSocket handshake through a gateway to a backend that answers `response` verbatim; resolves with
 * what the client received (up to the end of the head for a 101, until the gateway finishes otherwise) and the
 * backend, for further checks.
 */
export async function answerThrough(
  fx: Fixture,
  response: string | Buffer,
  rule: RuleOptions = {},
  request: string = wsHandshake('/ws/chat'),
): Promise<{ bytes: Buffer; backend: ScriptedBackend }> {
  const backend = await fx.backend(({ socket }) =>
    socket.write(typeof response === 'string' ? Buffer.from(response, 'latin1') : response),
  );
  const gw = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, ...rule }] });
  const client = await fx.client(gw.port);
  client.socket.write(request);
  const bytes = await client
    .until((b) => /^HTTP\/1\.1 101 /.test(b.toString('latin1')) && b.includes('\r\n\r\n'), 'a 101')
    .catch(() => client.ended);
  return { bytes, backend };
}

/** A 101 status line anywhere in what a client received. */
export const SWITCHING = /HTTP\/1\.[01] 101 /;

/** The body of {@link plainOk}: a client that got it got the backend's own answer. */
export const PLAIN_BODY = 'plain answer from the backend';

/** A plain 200 with `extra` raw header lines; it says `Connection: close`, so the gateway never reuses the connection. */
export function plainOk(extra = '', body = PLAIN_BODY): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${extra}Connection: close\r\n\r\n${body}`;
}

/**
 * Backend script accepting whatever arrives: a correct 101 to a request asking for an upgrade, {@link plainOk}
 * (then FIN) to any other. A request that slips past the gateway gets a prompt answer instead of a hang.
 */
export const acceptAnything: ConnScript = ({ socket, head }) => {
  if (/^upgrade:/im.test(head)) socket.write(switching101());
  else socket.end(plainOk());
};

/**
 * Asserts a request head the backend received is a plain HTTP request, nothing a backend could take for an upgrade:
 * no `Upgrade`, no `HTTP2-Settings`, a `Connection` (if any) holding only `keep-alive`/`close`, and none of the
 * fields the client named in its own `Connection` (`named`). Returns the header pairs.
 */
export function assertPlainRequest(head: string, named: readonly string[] = []): [string, string][] {
  const pairs = requestHeaderPairs(head);
  assert.deepEqual(values(pairs, 'upgrade'), [], `Upgrade reached the backend: ${JSON.stringify(head)}`);
  assert.deepEqual(
    values(pairs, 'http2-settings'),
    [],
    `HTTP2-Settings reached the backend: ${JSON.stringify(head)}`,
  );
  const tokens = values(pairs, 'connection').flatMap((value) => value.split(','));
  for (const token of tokens.map((t) => t.trim().toLowerCase())) {
    assert.ok(token === 'keep-alive' || token === 'close', `Connection: ${token} reached the backend`);
  }
  for (const name of named) {
    assert.deepEqual(
      values(pairs, name),
      [],
      `${name}, named in the client's Connection, reached the backend`,
    );
  }
  return pairs;
}

/** What {@link proxyPlain} saw on both sides. */
export interface PlainExchange {
  /** Head of the one request the backend received. */
  readonly backendHead: string;
  /** The client's complete response. */
  readonly response: ParsedResponse;
  readonly backend: ScriptedBackend;
  readonly gateway: TestGateway;
  readonly client: Collector;
}

/**
 * Sends `request` through a gateway (`/ws/` -> backend `/base/`) whose backend answers `answer` (default
 * {@link plainOk}) and sends FIN; resolves once the client has the complete response. Asserts it was proxied as a
 * plain request, never tunnelled: no 101 reached the client and the backend got exactly one connection.
 */
export async function proxyPlain(
  fx: Fixture,
  request: string | Buffer,
  rule: RuleOptions = {},
  answer: string = plainOk(),
): Promise<PlainExchange> {
  const backend = await fx.backend(({ socket }) => socket.end(Buffer.from(answer, 'latin1')));
  const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/`, ...rule }] });
  const client = await fx.client(gateway.port);
  client.socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  const response = await client.response();
  assert.notEqual(response.status, 101, 'the request was tunnelled');
  assert.ok(!SWITCHING.test(client.text), `a 101 reached the client: ${JSON.stringify(client.text)}`);
  assert.equal(backend.conns.length, 1, 'the backend did not get exactly one request');
  return { backendHead: backend.conns[0]!.head, response, backend, gateway, client };
}

/**
 * Sends `request`, which the gateway proxies as plain HTTP, to a backend that answers `answer` (a 101 followed by
 * tunnel bytes) and keeps its connection open. Resolves once the gateway has acted on that answer: it closed the
 * backend connection or sent the client something, and then served a barrier request.
 */
export async function switchedOnPlain(
  fx: Fixture,
  request: string,
  answer: string,
): Promise<{ client: Collector; backend: ScriptedBackend; gateway: TestGateway }> {
  const backend = await fx.backend(({ socket }) => socket.write(Buffer.from(answer, 'latin1')));
  const gateway = await fx.gateway({ rules: [{ path: '/ws/', target: `${backend.origin}/base/` }] });
  const client = await fx.client(gateway.port);
  client.socket.write(Buffer.from(request, 'latin1'));
  const conn = await backend.nextConn();
  await Promise.race([
    conn.closed,
    client.until((bytes) => bytes.length > 0, 'an answer').catch(() => undefined),
  ]);
  await barrier(gateway.port);
  return { client, backend, gateway };
}
