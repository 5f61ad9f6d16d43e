/**
 * Why: Apache's balancer-manager page, as JSON: GET shows every balancer, POST changes a member. It is a plain
 * Node handler so the gateway and each framework can mount it behind their own authentication.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { WstunnelConfigError } from '../errors.ts';
import type { Wstunnel } from '../wstunnel.ts';
import type { BalancerControl } from './balancer.ts';
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
  const all = (): BalancerControl[] =>
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
    // A body a framework already parsed (its stream is consumed): whatever it is, it is the request's.
    if (body !== undefined) return act(Buffer.isBuffer(body) ? parseJson(body) : body);
    readBody(req, (raw) => (raw === undefined ? send(res, 413, { error: TOO_LARGE }) : act(parseJson(raw))));
  };
}

const TOO_LARGE = `the body is over ${MAX_BODY} bytes`;
const INVALID = Symbol('invalid JSON');

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return INVALID;
  }
}

/** Applies `action` to every balancer of that name (one per engine); an error status, or `undefined` when done. */
function apply(
  balancers: readonly BalancerControl[],
  action: unknown,
): { status: number; error: string } | undefined {
  if (action === INVALID) return { status: 400, error: 'the body is not valid JSON' };
  if (typeof action !== 'object' || action === null || Array.isArray(action))
    return { status: 400, error: 'the body must be a JSON object' };
  const { balancer: name, member, set, add, remove } = action as Record<string, unknown>;
  const named = typeof name === 'string' ? balancers.filter((each) => each.name === name.toLowerCase()) : [];
  if (named.length === 0) return { status: 404, error: `no balancer named ${JSON.stringify(name)}` };
  if ([set, add, remove].filter((value) => value !== undefined).length !== 1)
    return { status: 400, error: 'give exactly one of set, add, remove' };
  if (remove !== undefined && remove !== true) return { status: 400, error: 'remove must be true' };
  const missing = named.find(
    (each) => add === undefined && (typeof member !== 'string' || !each.member(member)),
  );
  if (missing !== undefined)
    return { status: 404, error: `balancer://${missing.name} has no member named ${JSON.stringify(member)}` };
  if (remove !== undefined && named.some((each) => each.members.length === 1))
    return { status: 400, error: `balancer://${named[0]!.name}: cannot remove its last member` };
  const added: BalancerControl[] = [];
  try {
    for (const balancer of named) {
      if (set !== undefined) balancer.set(member as string, set as MemberChange);
      else if (remove !== undefined) balancer.remove(member as string);
      else {
        balancer.add(add as BalancerMemberOptions);
        added.push(balancer);
      }
    }
  } catch (error) {
    // All engines or none: a member one engine refused is taken back from those that took it.
    for (const balancer of added) balancer.remove(memberName(add));
    if (error instanceof WstunnelConfigError) return { status: 400, error: error.message };
    return { status: 500, error: error instanceof Error ? error.message : 'the change failed' };
  }
  return undefined;
}

function memberName(add: unknown): string {
  const { name, url } = add as { name?: unknown; url?: unknown };
  return String(name ?? url);
}

/** The body, or `undefined` when it is over {@link MAX_BODY}. */
function readBody(req: IncomingMessage, done: (raw: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY) chunks.push(chunk);
  });
  req.on('error', () => undefined);
  req.on('end', () => done(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
}

function send(res: ServerResponse, status: number, value: unknown, headOnly = false): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(headOnly ? undefined : text);
}
