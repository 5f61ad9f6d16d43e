/** Why: the balancer-manager page (GET JSON, POST changes) as a Fastify route handler, for the user to guard with their own hooks. */

import { balancerManager as coreManager } from '@wstunnel/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tunnelsOf } from './index.ts';

/**
 * The balancer-manager of every wstunnel registration on `fastify`'s server, as a route handler: GET shows the
 * balancers as JSON, POST (JSON) changes a member. Guard it with your own hook:
 * `fastify.route({ method: ['GET', 'POST'], url: '/balancer-manager', preHandler: requireAdmin, handler: balancerManager(fastify) })`.
 */
export function balancerManager(
  fastify: FastifyInstance,
): (request: FastifyRequest, reply: FastifyReply) => void {
  const manage = coreManager(() => tunnelsOf(fastify));
  return (request, reply) => {
    reply.hijack();
    manage(request.raw, reply.raw, request.body);
  };
}
