/**
 * Why: Node hands upgrades to `'upgrade'` listeners, around the app, so auth middleware, hooks, params and 404s never
 * see them. The bridge claims a server's upgrades and runs each through the framework's own request handler on a
 * ServerResponse bound to the raw socket: whatever the app answers (401, 404) reaches the client as HTTP, before any
 * 101, and a tunnel route takes the socket from there.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { attachUpgradeOwner, hasTaker, passUpgradeOn, type UpgradeOwner } from './dispatcher.ts';
import { afterPendingResponse } from './pipelining.ts';
import { respondOnSocket } from './plain-request.ts';

/** A framework's Node entry point: Express `app`, Koa `app.callback()`, `(req, res) => fastify.routing(req, res)`. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options of {@link bridgeUpgrades}. */
export interface UpgradeBridgeOptions {
  /**
   * Which upgrades go through the app. Default: every upgrade no earlier owner claimed. An upgrade the app answers
   * 404 still goes on to the server's other `'upgrade'` listeners (ws, socket.io); restrict this when the app answers
   * every path itself (an SPA catch-all) and other upgrade handlers share the server.
   */
  readonly claim?: (req: IncomingMessage) => boolean;
  /**
   * The app the listener belongs to, when each call makes a new listener (Koa's `app.callback()`): bridging the same
   * app to a server twice is bridging it once. Default: the listener itself.
   */
  readonly app?: object;
}

/** An upgrade the bridge is running through the app: what a tunnel route takes over. */
export interface BridgedUpgrade {
  readonly socket: Duplex;
  readonly head: Buffer;
}

interface Pending extends BridgedUpgrade {
  readonly res: ServerResponse;
  settled: boolean;
  /** The socket's listeners before the app ran: whatever the app adds (Koa's on-finished) goes when it lets go. */
  readonly listeners: ReadonlyMap<string, readonly unknown[]>;
}

/**
 * Socket events whose app listeners go with the socket: errors (Koa reports every reset of a long-lived tunnel as an
 * app error otherwise). `close` listeners stay, so on-finished (morgan, metrics) still learns when the tunnel ends.
 */
const WATCHED = ['error'] as const;

/** Unbinds the app's response and the listeners the app put on the socket: the socket now belongs to someone else. */
function release(entry: Pending): void {
  const { socket, res } = entry;
  res.detachSocket(socket as Parameters<ServerResponse['detachSocket']>[0]);
  for (const event of WATCHED) {
    const before = entry.listeners.get(event) ?? [];
    for (const listener of socket.listeners(event))
      if (!before.includes(listener)) socket.off(event, listener as (...args: unknown[]) => void);
  }
}

const pending = new WeakMap<IncomingMessage, Pending>();

/**
 * Runs the upgrades of `server` through `app`. Call it once per server, before the first upgrade can arrive (right
 * after `listen()` is fine). Returns a function that stops it.
 */
export function bridgeUpgrades(
  server: Server,
  app: RequestListener,
  options: UpgradeBridgeOptions = {},
): () => void {
  if (typeof app !== 'function')
    throw new TypeError('bridgeUpgrades: app must be a request listener function');
  // Two modules bridging the same app would run it twice for every upgrade it declines.
  const identity = options.app ?? app;
  const existing = bridged.get(server)?.get(identity);
  if (existing !== undefined) return existing;
  const claim = options.claim;
  const claims = (req: IncomingMessage): boolean => claim === undefined || claim(req);
  const owner: UpgradeOwner = {
    // An upgrade request with a body is no tunnel (WebSocket is GET), and as an upgrade its body could never be
    // read: the app serves it as the ordinary request it also is, its auth included. (Where Node cannot decide
    // early, the bridge answers it 400 on the socket.)
    ordinary: (req) =>
      (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') &&
      claims(req),
    route(req) {
      if (!claims(req)) return undefined;
      return (request, socket, head) => {
        void afterPendingResponse(socket, async () => run(server, owner, app, request, socket, head));
      };
    },
  };
  const detach = attachUpgradeOwner(server, owner);
  let attached = true;
  const apps = bridged.get(server) ?? new Map<object, () => void>();
  bridged.set(server, apps);
  const stop = (): void => {
    if (!attached) return;
    attached = false;
    detach();
    apps.delete(identity);
  };
  apps.set(identity, stop);
  return stop;
}

/** The bridges of each server, by app, so bridging an app twice is bridging it once. */
const bridged = new WeakMap<Server, Map<object, () => void>>();

/** Whether upgrades of `server` run through an app (so a route that sees none was just not reached by one). */
export function bridgesUpgrades(server: Server | undefined): boolean {
  return server !== undefined && (bridged.get(server)?.size ?? 0) > 0;
}

/** The socket of an upgrade the bridge is running through the app, while nobody has answered or taken it. */
export function bridgedUpgrade(req: IncomingMessage): BridgedUpgrade | undefined {
  return unsettled(req);
}

function unsettled(req: IncomingMessage): Pending | undefined {
  const entry = pending.get(req);
  return entry === undefined || entry.settled ? undefined : entry;
}

/**
 * Takes the socket of a bridged upgrade away from the app: its response is unbound, so nothing the framework writes
 * later reaches the client. Returns `undefined` when `req` is not a bridged upgrade, or was already taken or answered.
 */
export function takeBridgedUpgrade(req: IncomingMessage): BridgedUpgrade | undefined {
  const entry = unsettled(req);
  if (entry === undefined) return undefined;
  entry.settled = true;
  release(entry);
  return entry;
}

/** Marks a bridged upgrade as answered by the app's own response (proxied as plain HTTP): it goes to nobody else. */
export function keepBridgedResponse(req: IncomingMessage): void {
  const entry = pending.get(req);
  if (entry !== undefined) entry.settled = true;
}

function run(
  server: Server,
  owner: UpgradeOwner,
  app: RequestListener,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  respondOnSocket(req, socket, (res) => {
    const listeners = new Map(WATCHED.map((event) => [event, socket.listeners(event)]));
    const entry: Pending = { socket, head, res, settled: false, listeners };
    pending.set(req, entry);
    const writeHead = res.writeHead;
    // Every framework answers an unknown path through writeHead(404): that is the app declining the upgrade, which
    // then goes on to the owners and listeners after it. With none there, the framework's 404 stands.
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
      if (args[0] === 404 && !entry.settled && hasTaker(server, owner, req)) {
        entry.settled = true;
        release(entry);
        // res.end() corks the socket before this implicit writeHead and uncorks only a socket still bound to it.
        while (socket.writableCorked > 0) socket.uncork();
        passUpgradeOn(server, owner, req, socket, head);
      } else entry.settled = true;
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    try {
      const result = app(req, res);
      if (result instanceof Promise) result.catch((error: unknown) => fail(res, error));
    } catch (error) {
      fail(res, error);
    }
  });
}

/** A framework that throws out of its entry point (it should not) must not crash the process or hang the client. */
function fail(res: ServerResponse, error: unknown): void {
  process.emitWarning(
    `wstunnel: the app threw while routing an upgrade: ${(error as Error)?.message ?? String(error)}`,
    'WstunnelWarning',
  );
  if (!res.headersSent && res.socket !== null) {
    res.statusCode = 500;
    res.end('internal error while routing the upgrade');
  } else res.destroy();
}
