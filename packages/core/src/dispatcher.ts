/**
 * Why: every `'upgrade'` listener on a server sees every upgrade, so owners fight over sockets (ws answers 400
 * for paths it does not own). One dispatcher per server hands each upgrade to exactly one owner; upgrades no
 * owner claims reach the server's other listeners, or its request handler when there are none.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { writeErrorResponse } from './http-responses.ts';
import { afterPendingResponse } from './pipelining.ts';
import { serveAsPlainRequest } from './plain-request.ts';

/** Takes over one upgrade: from this call on it owns the socket. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Something that tunnels some upgrades: a wstunnel instance, or a framework adapter that routes them through its app. */
export interface UpgradeOwner {
  /** Synchronously decides whether this owner takes `req`; returns its handler when it does. */
  route(req: IncomingMessage): UpgradeHandler | undefined;
  /**
   * Whether `req`, though it offers an upgrade, must stay an ordinary request that the server's request handler
   * serves (where Node lets the dispatcher decide early): an app that routes upgrades keeps requests with a body.
   */
  ordinary?(req: IncomingMessage): boolean;
}

interface Dispatcher {
  readonly owners: UpgradeOwner[];
  /** The dispatcher's own 'upgrade' listener (for unclaimed upgrades), which is not a foreign one. */
  readonly unclaimed: (req: IncomingMessage, socket: Duplex) => void;
  uninstall(): void;
}

/** Shared across copies of this package, so two installed versions still use one dispatcher per server. */
const kDispatcher: unique symbol = Symbol.for('wstunnel.upgrade-dispatcher');
type DispatchedServer = Server & { [kDispatcher]?: Dispatcher };

/**
 * Registers `owner` with the server's dispatcher, installing it on first use. Owners are asked in the order
 * they were attached. Returns a function that detaches the owner (and the dispatcher, with the last one).
 */
export function attachUpgradeOwner(server: Server, owner: UpgradeOwner): () => void {
  const target = server as DispatchedServer;
  const dispatcher = target[kDispatcher] ?? install(target);
  dispatcher.owners.push(owner);
  return () => {
    const at = dispatcher.owners.indexOf(owner);
    if (at === -1) return;
    dispatcher.owners.splice(at, 1);
    if (dispatcher.owners.length === 0) dispatcher.uninstall();
  };
}

/** Whether an owner after `from`, or a foreign `'upgrade'` listener, would take an upgrade `from` declines. */
export function hasTaker(server: Server, from: UpgradeOwner, req: IncomingMessage): boolean {
  const dispatcher = (server as DispatchedServer)[kDispatcher];
  const owners = dispatcher?.owners ?? [];
  if (owners.slice(owners.indexOf(from) + 1).some((owner) => owner.route(req) !== undefined)) return true;
  return server.listeners('upgrade').some((listener) => listener !== dispatcher?.unclaimed);
}

/**
 * Offers an upgrade that `from` claimed but did not take (a framework app that has no route for it) to the owners
 * attached after `from`, then to the server's other `'upgrade'` listeners. Returns `false`, touching nothing, when
 * none is there to take it.
 */
export function passUpgradeOn(
  server: Server,
  from: UpgradeOwner,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): boolean {
  const dispatcher = (server as DispatchedServer)[kDispatcher];
  const owners = dispatcher?.owners ?? [];
  for (const owner of owners.slice(owners.indexOf(from) + 1)) {
    const handler = owner.route(req);
    if (handler !== undefined) {
      handler(req, socket, head);
      return true;
    }
  }
  const listeners = server.listeners('upgrade').filter((listener) => listener !== dispatcher?.unclaimed);
  try {
    for (const listener of listeners) listener.call(server, req, socket, head);
  } catch (error) {
    // Node would have crashed on a throwing 'upgrade' listener; here it is inside an app's response, so it is contained.
    process.emitWarning(
      `wstunnel: an 'upgrade' listener threw: ${(error as Error).message}`,
      'WstunnelWarning',
    );
    socket.destroy();
  }
  return listeners.length > 0;
}

function install(server: DispatchedServer): Dispatcher {
  const owners: UpgradeOwner[] = [];
  const originalEmit = server.emit;
  // The only way to keep other listeners from also seeing a claimed upgrade is to route it before emit() does.
  const emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'upgrade') {
      const req = args[0] as IncomingMessage;
      const socket = args[1] as Duplex;
      try {
        for (const owner of owners) {
          const handler = owner.route(req);
          if (handler !== undefined) {
            handler(req, socket, args[2] as Buffer);
            return true;
          }
        }
      } catch (error) {
        // An owner's bug must not escape into Node's HTTP parser (which would crash the process).
        process.emitWarning(
          `wstunnel: an upgrade owner threw: ${(error as Error).message}`,
          'WstunnelWarning',
        );
        writeErrorResponse(socket, 500, 'internal error while routing the upgrade');
        return true;
      }
    }
    // A request that asked for an upgrade and is served as a plain one is the last on its connection: say so, or a
    // client that pipelined another waits for an answer that never comes.
    if (event === 'request' && closesConnection.has(args[0] as IncomingMessage))
      (args[1] as ServerResponse).shouldKeepAlive = false;
    return originalEmit.apply(this, [event, ...args] as Parameters<Server['emit']>);
  } as Server['emit'];
  // Node only emits 'upgrade' while a listener exists; when this is the only one, unclaimed upgrades are served
  // as the plain HTTP requests they also are.
  const unclaimed = (req: IncomingMessage, socket: Duplex): void => {
    if (server.listenerCount('upgrade') !== 1) return;
    // Like a tunnel, a plain answer must not overtake the response to a request pipelined before it.
    void afterPendingResponse(socket, async () => serveAsPlainRequest(server, req, socket));
  };
  server.emit = emit;
  server.on('upgrade', unclaimed);
  const restoreDecision = decideUpgradesEarly(server, owners);
  const dispatcher: Dispatcher = {
    owners,
    unclaimed,
    uninstall() {
      if (server.emit === emit) server.emit = originalEmit;
      server.off('upgrade', unclaimed);
      restoreDecision();
      if (server[kDispatcher] === dispatcher) delete server[kDispatcher];
    },
  };
  server[kDispatcher] = dispatcher;
  return dispatcher;
}

type UpgradeDecision = (this: Server, req: IncomingMessage) => boolean;

/** Requests `shouldUpgradeCallback` kept ordinary although they asked for an upgrade. */
const closesConnection = new WeakSet<IncomingMessage>();

/**
 * Where Node offers `shouldUpgradeCallback` (22.21+, 24.9+), an upgrade no owner claims and no other listener wants
 * stays an ordinary request, body and keep-alive included (RFC 9110 7.8 lets a server ignore Upgrade). Elsewhere
 * the 'upgrade' listener above serves it through the plain-request bridge. Returns the function that restores it.
 */
function decideUpgradesEarly(server: Server, owners: readonly UpgradeOwner[]): () => void {
  const target = server as Server & { shouldUpgradeCallback?: UpgradeDecision };
  const original = target.shouldUpgradeCallback;
  if (typeof original !== 'function') return () => undefined;
  // Code that wraps the callback after us keeps calling `decide` after detach: it must then step aside.
  let active = true;
  const upgrades = function (this: Server, req: IncomingMessage): boolean {
    try {
      // Before any owner or listener may take it: no 'upgrade' listener must ever see it around the app.
      if (owners.some((owner) => owner.ordinary?.(req) === true)) return false;
      if (owners.some((owner) => owner.route(req) !== undefined)) return true;
    } catch {
      return true; // emit() answers it 500 and reports the owner's error
    }
    // No request handler, or a target no handler can route (absolute-form): the bridge answers 404 or 400.
    if (this.listenerCount('request') === 0 || !req.url?.startsWith('/')) return true;
    return this.listenerCount('upgrade') > 1 && original.call(this, req);
  };
  const decide: UpgradeDecision = function (req) {
    if (!active) return original.call(this, req);
    const upgrade = upgrades.call(this, req);
    // Node's parser reads nothing after a request that asked for an upgrade, even one served as a plain request.
    if (!upgrade) closesConnection.add(req);
    return upgrade;
  };
  target.shouldUpgradeCallback = decide;
  return () => {
    active = false;
    if (target.shouldUpgradeCallback === decide) target.shouldUpgradeCallback = original;
  };
}
