/**
 * Why: a Fastify plugin's prefix, encapsulation and the parent's hooks decide which requests reach a tunnel; this
 * registers the routes, runs the server's upgrades under that prefix through Fastify's router, and drains on close.
 * @module
 */

import type { IncomingMessage } from 'node:http';
import {
  bridgedUpgrade,
  bridgeUpgrades,
  mountRelativePath,
  type RouteTunnelOptions,
  routeCaptures,
  routeTunnel,
  type Wstunnel,
} from '@wstunnel/core';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/** Options of the plugin; target and header functions receive the Fastify `request` (params, decorations). */
export interface FastifyTunnelOptions extends RouteTunnelOptions<FastifyRequest> {
  /** Milliseconds `fastify.close()` gives open tunnels before ending them (see `Wstunnel.close`). Default 5 000. */
  readonly closeTimeout?: number;
}

/** find-my-way constraint: "an upgrade the bridge is running through Fastify", so plain requests skip such routes. */
const UPGRADE_CONSTRAINT: Parameters<FastifyInstance['addConstraintStrategy']>[0] = {
  name: 'wstunnelUpgrade',
  storage() {
    const handlers = new Map();
    return {
      get: (value) => handlers.get(value) ?? null,
      set: (value, handler) => void handlers.set(value, handler),
    };
  },
  deriveConstraint: (req: IncomingMessage) => (bridgedUpgrade(req) === undefined ? undefined : 'yes'),
  mustMatchWhenDerived: false,
};

/** Engines registered per server: the plugin is encapsulated, so a decorator would not reach the parent. */
const engines = new WeakMap<object, Wstunnel[]>();

/** The engines (events, `size`, `openTunnels`) of every wstunnel registration on this Fastify server. */
export function tunnelsOf(fastify: FastifyInstance): readonly Wstunnel[] {
  return engines.get(fastify.server) ?? [];
}

// Async, so a configuration error rejects register() and ready() (avvio does not catch a callback plugin's throw).
const plugin: FastifyPluginAsync<FastifyTunnelOptions> = async (fastify, options) => {
  const {
    closeTimeout,
    prefix: _prefix,
    logLevel: _level,
    ...tunnelOptions
  } = options as FastifyTunnelOptions & Record<string, unknown>;
  const route = routeTunnel<FastifyRequest>(tunnelOptions, undefined, '@wstunnel/fastify');
  const mountRelative = (url: string): string | undefined => mountRelativePath(url, fastify.prefix);
  engines.set(fastify.server, [...tunnelsOf(fastify), route.engine]);
  // Bodies reach the backend as the client sent them: no parser may read them first.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null));
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = mountRelative(request.url) ?? request.url;
    const result = await route.handle({
      req: request.raw,
      res: reply.raw,
      path,
      // This plugin's own `/*` route gives `*`: taken from the request-target, so `%2F` stays inside its segment.
      captures: routeCaptures(request.params, path.slice(1).split('?')[0]),
      context: request,
      respond: () => reply.hijack(),
      outcome: (outcome) => {
        if (outcome.kind === 'failed') request.log.warn({ err: outcome.error }, 'wstunnel: upgrade failed');
      },
    });
    if (result === 'pass') reply.callNotFound();
  };
  // Routes that never serve plain requests match upgrades only, so plain ones reach the app's other routes.
  const upgradesOnly = route.servesPlainRequests ? {} : { constraints: { [UPGRADE_CONSTRAINT.name]: 'yes' } };
  if (!route.servesPlainRequests && !fastify.hasConstraintStrategy(UPGRADE_CONSTRAINT.name))
    fastify.addConstraintStrategy(UPGRADE_CONSTRAINT);
  fastify.all('/', upgradesOnly, handler);
  fastify.all('/*', upgradesOnly, handler);
  // Only upgrades under this plugin's prefix go through Fastify's router; others stay with their owners.
  const stop = bridgeUpgrades(fastify.server, (req, res) => fastify.routing(req, res), {
    claim: (req) => {
      const path = mountRelative(req.url ?? '');
      return path !== undefined && route.wants(req, path);
    },
  });
  fastify.addHook('preClose', async () => {
    stop();
    await route.engine.close(closeTimeout === undefined ? {} : { timeout: closeTimeout });
  });
};

/**
 * Tunnels WebSocket (and other) upgrades under the registration's `prefix` to `target`, or by `rules`, after the
 * parent's hooks ran: `fastify.register(wstunnel, { prefix: '/ws2', target: 'ws://echo/' })`. Plain requests are
 * proxied per the rule semantics; errors reach `setErrorHandler`; `fastify.close()` drains the tunnels.
 */
export const wstunnel: FastifyPluginAsync<FastifyTunnelOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@wstunnel/fastify',
  encapsulate: true,
});

export default wstunnel;
