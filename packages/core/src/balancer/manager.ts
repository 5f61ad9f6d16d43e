/**
 * Why: Apache's balancer-manager page, as JSON: GET shows every balancer, POST changes a member. It is a plain
 * Node handler so the gateway and each framework can mount it behind their own authentication.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { WstunnelConfigError } from '../errors.ts';
import type { Wstunnel } from '../wstunnel.ts';
import type { Balancer } from './balancer.ts';
import type { BalancerMemberOptions, MemberChange } from './balancer-options.ts';
import type { BalancerSnapshot } from './snapshot.ts';

/** Largest POST body read, in bytes. */
const MAX_BODY = 16 * 1024;

/**
 * A POST to the manager: change, add or remove one member. `member` names it (its `name`, or its URL when unnamed).
 */
export type ManagerAction =
  | { readonly balancer: string; readonly member: string; readonly set: MemberChange }
  | { readonly balancer: string; readonly add: BalancerMemberOptions }
  | { readonly balancer: string; readonly member: string; readonly remove: true };

/** What the manager answers to GET (and to a POST, after the change): every balancer's snapshot. */
export interface ManagerPage {
  readonly balancers: readonly BalancerSnapshot[];
}

/**
 * Serves the balancers of `tunnel`; `body` is the request body when a framework already parsed it. GET and HEAD
 * answer a {@link ManagerPage}; POST takes a {@link ManagerAction} as `application/json` (which a cross-site HTML
 * form cannot send) and answers the page after the change. Mount it behind your own authentication.
 */
export type BalancerManager = (req: IncomingMessage, res: ServerResponse, body?: unknown) => void;

/**
 * Creates the manager handler of `tunnels`: the engine of a gateway or of an adapter's middleware, or a function
 * giving several (asked on every request, so engines registered later are included).
 */
export function balancerManager(tunnels: Wstunnel | (() => Iterable<Wstunnel>)): BalancerManager {
  const all = (): Balancer[] =>
    (typeof tunnels === 'function' ? [...tunnels()] : [tunnels]).flatMap((tunnel) => [
      ...tunnel.balancers.values(),
    ]);
  const page = (): ManagerPage => ({ balancers: all().map((balancer) => balancer.snapshot()) });
  return (req, res, body) => {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') return send(res, 200, page(), method === 'HEAD');
    if (method !== 'POST') {
      res.setHeader('Allow', 'GET, HEAD, POST');
      return send(res, 405, { error: 'use GET to read, POST to change' });
    }
    if (!/^application\/json\s*(?:;|$)/i.test(req.headers['content-type'] ?? ''))
      return send(res, 415, { error: 'POST a JSON body with Content-Type: application/json' });
    const act = (parsed: unknown): void => {
      const failure = apply(all(), parsed);
      if (failure === undefined) send(res, 200, page());
      else send(res, failure.status, { error: failure.error });
    };
    if (body !== undefined && body !== null && typeof body === 'object' && !Buffer.isBuffer(body))
      return act(body);
    readJson(req, (parsed, status) =>
      status === undefined ? act(parsed) : send(res, status, { error: parsed }),
    );
  };
}

function apply(
  balancers: readonly Balancer[],
  action: unknown,
): { status: number; error: string } | undefined {
  if (typeof action !== 'object' || action === null)
    return { status: 400, error: 'the body must be a JSON object' };
  const { balancer: name, member, set, add, remove } = action as Record<string, unknown>;
  const balancer =
    typeof name === 'string' ? balancers.find((each) => each.name === name.toLowerCase()) : undefined;
  if (balancer === undefined) return { status: 404, error: `no balancer named ${JSON.stringify(name)}` };
  const actions = [set, add, remove].filter((value) => value !== undefined).length;
  if (actions !== 1) return { status: 400, error: 'give exactly one of set, add, remove' };
  if (add === undefined && (typeof member !== 'string' || balancer.member(member) === undefined))
    return {
      status: 404,
      error: `balancer://${balancer.name} has no member named ${JSON.stringify(member)}`,
    };
  try {
    if (set !== undefined) balancer.set(member as string, set as MemberChange);
    else if (add !== undefined) balancer.add(add as BalancerMemberOptions);
    else if (remove === true) balancer.remove(member as string);
    else return { status: 400, error: 'remove must be true' };
  } catch (error) {
    if (error instanceof WstunnelConfigError) return { status: 400, error: error.message };
    throw error;
  }
  return undefined;
}

function readJson(req: IncomingMessage, done: (value: unknown, status?: number) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) over = true;
    else chunks.push(chunk);
  });
  req.on('error', () => undefined);
  req.on('end', () => {
    if (over) return done(`the body is over ${MAX_BODY} bytes`, 413);
    try {
      done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch {
      done('the body is not valid JSON', 400);
    }
  });
}

function send(res: ServerResponse, status: number, value: unknown, headOnly = false): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(headOnly ? undefined : text);
}
