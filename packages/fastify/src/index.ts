import {
  bridgeUpgrades,
  mountRelativePath,
  type RouteTunnelOptions,
  routeCaptures,
  routeTunnel,
  type Wstunnel,
  WstunnelConfigError,
} from '@wstunnel/core';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { upgradesOnly } from './upgrade-constraint.ts';

export { balancerManager } from './balancer-manager.ts';

/** Options of the plugin; target and header functions receive the Fastify `request` (params, decorations). */
export interface FastifyTunnelOptions extends RouteTunnelOptions<FastifyRequest> {
  /** Milliseconds `fastify.close()` gives open tunnels before ending them (see `Wstunnel.close`). Default 5 000. */
  readonly closeTimeout?: number;
}

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
  // Upgrades are claimed by the prefix before Fastify routes them, so it must be literal text.
  if (/[:*(]/.test(fastify.prefix))
    throw new WstunnelConfigError(
      'ERR_WSTUNNEL_INVALID_OPTION',
      `@wstunnel/fastify: prefix "${fastify.prefix}" has parameters; use a literal prefix and \`rules\` with \`match\` for parameters`,
    );
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
  const routeOptions = route.servesPlainRequests ? {} : upgradesOnly(fastify);
  fastify.all('/', routeOptions, handler);
  fastify.all('/*', routeOptions, handler);
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
