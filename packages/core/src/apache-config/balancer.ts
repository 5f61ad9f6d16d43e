/** Why: httpd builds each `balancer://name` up in file order from `<Proxy>`, BalancerMember, ProxySet and ProxyPass lines; the importer keeps the same per-server drafts. */

import type { HealthCheckOptions } from '../balancer/balancer-options.ts';
import { splitArguments } from './arguments.ts';
import { type BalancerParams, readBalancerParameters } from './balancer-params.ts';
import { type ConfigPlace, fail } from './error.ts';
import { type HcScope, memberHealthCheck } from './health-check.ts';
import { type MemberOptions, readMemberParameters } from './member-params.ts';
import { balancerNameOf, checkBackendUrl, isBalancerUrl } from './proxy-pass.ts';
import type { ReadContext, ReadState, ServerScope } from './scope.ts';
import type { RouteCookie } from './sticky.ts';
import type { ConfigDirective } from './tokenizer.ts';
import { startsWithUrl } from './workers.ts';

/** One BalancerMember, read. */
export interface MemberDraft {
  readonly url: string;
  readonly place: ConfigPlace;
  readonly options: MemberOptions;
  readonly healthCheck: HealthCheckOptions | false | undefined;
}

/** A balancer as one server's lines have built it so far. */
export interface BalancerDraft {
  /** Lower case, as httpd keeps it. */
  readonly name: string;
  /** Where this server first named it. */
  readonly place: ConfigPlace;
  readonly members: MemberDraft[];
  readonly params: BalancerParams;
}

/** The balancers, `ProxyHCExpr`s, `ProxyHCTemplate`s and route-cookie `Header`s of one server (main or virtual host). */
export interface BalancingScope extends HcScope {
  readonly balancers: Map<string, BalancerDraft>;
  readonly routeCookies: RouteCookie[];
}

/** A server with no balancer yet. */
export function emptyBalancing(): BalancingScope {
  return { balancers: new Map(), exprs: new Map(), templates: new Map(), routeCookies: [] };
}

/** The draft of `name`, created as httpd creates a balancer at its first mention. */
function draftOf(scope: ServerScope, name: string, place: ConfigPlace): BalancerDraft {
  let draft = scope.balancing.balancers.get(name);
  if (draft === undefined) {
    draft = { name, place, members: [], params: {} };
    scope.balancing.balancers.set(name, draft);
  }
  return draft;
}

/** `<Proxy "balancer://name" ...>`: defines the balancer; returns the URL its directives belong to. */
export function openBalancerSection(scope: ServerScope, url: string, place: ConfigPlace): string {
  checkBackendUrl(url, '<Proxy>', place);
  const name = balancerNameOf(url);
  draftOf(scope, name, place);
  return `balancer://${name}`;
}

/**
 * The `key=value` words after the URL of `<Proxy "balancer://name" ...>`, which httpd applies after the section's
 * directives; and a note when the URL has a path, which httpd ignores there.
 */
export function closeBalancerSection(
  state: ReadState,
  scope: ServerScope,
  args: readonly string[],
  place: ConfigPlace,
): void {
  const [url, ...words] = args as [string, ...string[]];
  const draft = draftOf(scope, balancerNameOf(url), place);
  const written = `<Proxy ${args.join(' ')}>`;
  state.ignored.push(...readBalancerParameters(words, written, draft.params, place));
  if (/^balancer:\/\/[^/]*\/./i.test(url)) {
    state.ignored.push({
      ...place,
      directive: written,
      reason: 'httpd ignores the path of a balancer URL in <Proxy> (checked with httpd 2.4.71)',
    });
  }
}

/** `ProxySet` for a balancer, in its `<Proxy>` section or as `ProxySet balancer://name key=value...`. */
export function readBalancerProxySet(
  state: ReadState,
  scope: ServerScope,
  url: string,
  words: readonly string[],
  place: ConfigPlace,
): void {
  const draft = scope.balancing.balancers.get(balancerNameOf(url));
  if (draft === undefined) {
    fail(
      place,
      `ProxySet can not find '${url}' Balancer`,
      `httpd reads the file in order: write <Proxy "${url}"> (or the ProxyPass or BalancerMember naming it) before this line`,
    );
  }
  state.ignored.push(...readBalancerParameters(words, 'ProxySet', draft.params, place));
}

/** A ProxyPass or ProxyPassMatch to a balancer: httpd defines it if need be, and reads the parameters as its own. */
export function referenceBalancer(
  state: ReadState,
  scope: ServerScope,
  target: string,
  words: readonly string[],
  directive: string,
  place: ConfigPlace,
): void {
  const draft = draftOf(scope, balancerNameOf(target), place);
  state.ignored.push(...readBalancerParameters(words, directive, draft.params, place));
}

/** `BalancerMember [balancer://name] url [key=value...]`: in `<Proxy "balancer://name">`, or naming the balancer. */
export function readBalancerMember(state: ReadState, node: ConfigDirective, context: ReadContext): void {
  const { rawArgs, place } = node;
  const written = `BalancerMember ${rawArgs}`;
  const usage =
    'write BalancerMember "ws://host:port" in <Proxy "balancer://name">, or BalancerMember balancer://name ws://host:port';
  if (context.kind === 'location') fail(place, 'BalancerMember not allowed in <Location>', usage);
  const words = splitArguments(rawArgs, place);
  // httpd takes every word holding "=" as a parameter, and the others as the balancer name (outside <Proxy>) and URL.
  const plain = words.filter((word) => !word.includes('='));
  const params = words.filter((word) => word.includes('='));
  if (context.kind === 'proxy' && (context.url === undefined || !isBalancerUrl(context.url)))
    fail(place, 'BalancerMember in a <Proxy> section that is not a balancer', usage);
  const [balancer, url, extra] = context.kind === 'proxy' ? [context.url!, ...plain] : plain;
  if (context.kind === 'proxy' && plain.length > 1)
    fail(
      place,
      'BalancerMember can not have a balancer name when defined in <Proxy "balancer://...">',
      `write BalancerMember ${plain.at(-1)}`,
    );
  if (balancer === undefined || url === undefined || !isBalancerUrl(balancer))
    fail(place, 'BalancerMember must name the balancer (outside <Proxy>) and the backend URL', usage);
  if (extra !== undefined)
    fail(
      place,
      `Invalid BalancerMember parameter "${extra}": parameters must be in the form key=value`,
      usage,
    );
  checkBackendUrl(balancer, 'BalancerMember', place);
  memberUrl(url, place);
  const draft = draftOf(context.scope, balancerNameOf(balancer), place);
  const shared = draft.members.find((member) => startsWithUrl(url, member.url));
  if (shared !== undefined) {
    // httpd finds the worker whose URL this one starts with (checked with httpd 2.4.71: /apple shares /app).
    const reason = `httpd counts it as the member ${shared.url} of line ${shared.place.line} (worker sharing)${params.length > 0 ? ', and ignores its parameters (AH01150)' : ''}`;
    state.ignored.push({ ...place, directive: written, reason });
    return;
  }
  const path = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(url)?.[1] ?? '';
  const read = readMemberParameters(params, context.scope.balancing, place);
  const health = memberHealthCheck(read.hc, path, written, place);
  state.ignored.push(...read.ignored, ...health.notes);
  draft.members.push({ url, place, options: read.options, healthCheck: health.healthCheck });
}

/** A member URL: a ws://, wss://, http:// or https:// backend with an optional path, no query, no trailing `/`. */
function memberUrl(url: string, place: ConfigPlace): void {
  if (isBalancerUrl(url))
    fail(
      place,
      `BalancerMember ${url}: a member is a backend, not a balancer`,
      'write the backend URL, like ws://host:port',
    );
  checkBackendUrl(url, 'BalancerMember', place);
  if (/[?#]/.test(url)) fail(place, `BalancerMember ${url}: a member URL takes no query`, 'remove the query');
  const path = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(url)?.[1] ?? '';
  if (path.endsWith('/')) {
    const fixed = url.replace(/\/+$/, '');
    fail(
      place,
      `BalancerMember ${url}: remove the trailing "/"`,
      `the request path is appended to the member URL, so "/x" would reach the backend as "${path}/x" (as httpd 2.4.71 sends it); write BalancerMember ${fixed}`,
    );
  }
}
