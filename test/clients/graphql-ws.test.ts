// Why: graphql-ws is the GraphQL subscription protocol behind most WebSocket APIs; its client and server insist on
// the `graphql-transport-ws` subprotocol (the server closes 4406 without it) and multiplex operations on one socket.
// A subscription through each adapter and the gateway must deliver every event in order and complete.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket from 'ws';
import { startEchoBackend } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { type Adapter, adapters, startApp, within } from './apps.ts';

const defer = cleanupAfterEach();

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { hello: { type: new GraphQLNonNull(GraphQLString), resolve: () => 'world' } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      countdown: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { from: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, { from }: { from: number }) {
          for (let n = from; n >= 0; n--) {
            // A turn of the event loop between events, so concurrent subscriptions interleave on the socket.
            await new Promise((resolve) => setImmediate(resolve));
            yield n;
          }
        },
        resolve: (n: unknown) => n,
      },
    },
  }),
});

/** A graphql-ws server on a `ws` WebSocketServer at /graphql; returns its origin and the upgrades it accepted. */
async function startGraphqlBackend(): Promise<{ origin: string; upgrades: IncomingMessage[] }> {
  const backend = await startEchoBackend({ path: '/graphql' });
  // The echo listener would answer graphql-ws messages with themselves: graphql-ws alone handles connections here.
  backend.wss.removeAllListeners('connection');
  const upgrades: IncomingMessage[] = [];
  backend.wss.on('connection', (_socket, req) => upgrades.push(req));
  const server = useServer({ schema }, backend.wss);
  defer(
    () => backend.close(),
    () => server.dispose(),
  );
  return { origin: backend.origin, upgrades };
}

/** The ws:// URL of the backend's /graphql through the front (app or gateway) mounting it at /api/. */
async function startFront(kind: Adapter | 'gateway', backendOrigin: string): Promise<string> {
  if (kind === 'gateway') {
    const gateway = await startTestGateway({ rules: [{ path: '/api/', target: `${backendOrigin}/` }] });
    defer(() => gateway.close(0));
    return gateway.ws('/api/graphql');
  }
  const app = await startApp(kind, { mount: '/api', target: backendOrigin });
  defer(() => app.close());
  return `ws://127.0.0.1:${app.port}/api/graphql`;
}

describe('graphql-ws client subscribing through each adapter and the gateway', () => {
  for (const kind of [...adapters, 'gateway'] as const) {
    test(kind, { timeout: 10_000 }, async () => {
      const backend = await startGraphqlBackend();
      const url = await startFront(kind, backend.origin);
      const protocols: string[] = [];
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        on: { connected: (socket) => protocols.push((socket as WebSocket).protocol) },
      });
      defer(() => client.dispose());

      const collect = async (query: string): Promise<unknown[]> => {
        const values: unknown[] = [];
        for await (const result of client.iterate({ query })) {
          assert.equal(result.errors, undefined);
          values.push(Object.values(result.data ?? {})[0]);
        }
        return values;
      };
      // Two subscriptions and a query, multiplexed on one socket; each operation completes on its own.
      const operations = Promise.all([
        collect('subscription { countdown(from: 5) }'),
        collect('subscription Three { countdown(from: 3) }'),
        collect('{ hello }'),
      ]);
      assert.deepEqual(await within(operations, 5000, 'operations'), [
        [5, 4, 3, 2, 1, 0],
        [3, 2, 1, 0],
        ['world'],
      ]);

      assert.deepEqual(protocols, ['graphql-transport-ws']);
      assert.equal(backend.upgrades.length, 1);
      assert.equal(backend.upgrades[0]?.url, '/graphql');
      assert.equal(backend.upgrades[0]?.headers['sec-websocket-protocol'], 'graphql-transport-ws');
    });
  }
});
