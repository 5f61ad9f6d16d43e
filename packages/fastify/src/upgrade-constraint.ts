/**
 * Why: Fastify picks one route per request and cannot fall through to the next, so a registration that serves no
 * plain requests must not match them at all: a find-my-way constraint that only bridged upgrades satisfy.
 */

import type { IncomingMessage } from 'node:http';
import { bridgedUpgrade } from '@wstunnel/core';
import type { FastifyInstance, RouteShorthandOptions } from 'fastify';

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

/** Route options that make a route match upgrades the plugin is running through Fastify, and nothing else. */
export function upgradesOnly(fastify: FastifyInstance): RouteShorthandOptions {
  if (!fastify.hasConstraintStrategy(UPGRADE_CONSTRAINT.name))
    fastify.addConstraintStrategy(UPGRADE_CONSTRAINT);
  return { constraints: { [UPGRADE_CONSTRAINT.name]: 'yes' } };
}
