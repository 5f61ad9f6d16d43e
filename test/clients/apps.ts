/**
 * Why: the client suites run one scenario through every adapter; this starts Express, Koa and Fastify apps the way
 * each adapter's documentation sets them up (a mount point in front of a backend, optional pages and an auth guard
 * before the tunnel), so a suite only says what the client does.
 */

import { once } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { routeUpgrades as expressRouteUpgrades, wstunnel as expressTunnel } from '@wstunnel/express';
import fastifyTunnel from '@wstunnel/fastify';
import { routeUpgrades as koaRouteUpgrades, wstunnel as koaTunnel } from '@wstunnel/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { closeServer } from '../helpers/net.ts';

/** The adapters every client suite runs through. */
export const adapters = ['express', 'koa', 'fastify'] as const;
export type Adapter = (typeof adapters)[number];

/** A page the app itself serves on GET. */
export interface Page {
  readonly html: string;
  readonly setCookie?: string;
}

/** What the app in front of the backend looks like. */
export interface AppSpec {
  /**
   * Mount point without a trailing slash (`/ws2`): Express `app.use('/ws2/', wstunnel(target + '/'))`, Koa rule
   * `{ path: '/ws2/', target: target + '/' }`, Fastify `register(wstunnel, { prefix: '/ws2', target })`.
   */
  readonly mount: string;
  /** Backend URL without a trailing slash; the path after the mount point is appended to it. */
  readonly target: string;
  /** Pages the app serves itself, by exact path. */
  readonly pages?: Readonly<Record<string, Page>>;
  /** Middleware (Fastify: an onRequest hook) before the tunnel: a request it returns false for is answered 403. */
  readonly allow?: (req: IncomingMessage) => boolean;
}

/** An app listening on a free loopback port. */
export interface RunningApp {
  readonly port: number;
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** Drains the tunnels (no grace period) and closes the server. */
  close(): Promise<void>;
}

/** Starts `adapter`'s app per `spec` on 127.0.0.1:0. */
export function startApp(adapter: Adapter, spec: AppSpec): Promise<RunningApp> {
  if (adapter === 'express') return startExpress(spec);
  if (adapter === 'koa') return startKoa(spec);
  return startFastify(spec);
}

async function listening(server: Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function running(port: number, close: () => Promise<void>): RunningApp {
  return { port, url: `http://127.0.0.1:${port}`, close };
}

async function startExpress(spec: AppSpec): Promise<RunningApp> {
  const app = express();
  for (const [path, page] of Object.entries(spec.pages ?? {})) {
    app.get(path, (_req, res) => {
      if (page.setCookie !== undefined) res.set('set-cookie', page.setCookie);
      res.type('html').send(page.html);
    });
  }
  const allow = spec.allow;
  if (allow !== undefined)
    app.use((req, res, next) => (allow(req) ? next() : void res.status(403).send('forbidden')));
  const tunnel = expressTunnel(`${spec.target}/`);
  app.use(`${spec.mount}/`, tunnel);
  const server = app.listen(0, '127.0.0.1');
  expressRouteUpgrades(server, app);
  const port = await listening(server);
  return running(port, async () => {
    await tunnel.close({ timeout: 0 });
    await closeServer(server);
  });
}

async function startKoa(spec: AppSpec): Promise<RunningApp> {
  const app = new Koa();
  const pages = spec.pages ?? {};
  app.use(async (ctx, next) => {
    const page = ctx.method === 'GET' ? pages[ctx.path] : undefined;
    if (page === undefined) return next();
    if (page.setCookie !== undefined) ctx.set('set-cookie', page.setCookie);
    ctx.type = 'html';
    ctx.body = page.html;
  });
  const allow = spec.allow;
  if (allow !== undefined)
    app.use(async (ctx, next) => {
      if (allow(ctx.req)) return next();
      ctx.status = 403;
      ctx.body = 'forbidden';
    });
  const tunnel = koaTunnel({ rules: [{ path: `${spec.mount}/`, target: `${spec.target}/` }] });
  app.use(tunnel);
  const server = app.listen(0, '127.0.0.1');
  koaRouteUpgrades(server, app);
  const port = await listening(server);
  return running(port, async () => {
    await tunnel.close({ timeout: 0 });
    await closeServer(server);
  });
}

async function startFastify(spec: AppSpec): Promise<RunningApp> {
  const app = Fastify();
  for (const [path, page] of Object.entries(spec.pages ?? {})) {
    app.get(path, async (_request, reply) => {
      if (page.setCookie !== undefined) reply.header('set-cookie', page.setCookie);
      return reply.type('text/html; charset=utf-8').send(page.html);
    });
  }
  const allow = spec.allow;
  if (allow !== undefined)
    app.addHook('onRequest', async (request, reply) => {
      if (!allow(request.raw)) return reply.code(403).send('forbidden');
    });
  await app.register(fastifyTunnel, { prefix: spec.mount, target: spec.target, closeTimeout: 0 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  return running(port, async () => {
    app.server.closeAllConnections();
    await app.close();
  });
}

/** Rejects after `ms` (an AbortSignal timeout) unless `promise` settled first; `what` names the wait. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`${what}: not done within ${ms} ms`));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
