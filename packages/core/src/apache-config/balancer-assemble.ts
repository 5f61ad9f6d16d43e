/** Why: the balancers a server ends up with (the virtual host sees the main server's), checked against the rules that use them, become the `balancers` option. */

import type { BalancerMemberOptions, BalancerOptions } from '../balancer/balancer-options.ts';
import type { Rule } from '../options.ts';
import type { BalancerDraft, BalancingScope, MemberDraft } from './balancer.ts';
import type { BalancerParams } from './balancer-params.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { type ServerTimeouts, withIdleTimeout } from './idle-timeout.ts';
import { balancerNameOf, isBalancerUrl } from './proxy-pass.ts';
import { type RouteCookie, stickyOptions, unreadRouteCookies } from './sticky.ts';

/** Keys a rule on a balancer may hold: its matching, and `fallbackToHttp` (target options belong to the members). */
const RULE_KEYS = new Set([
  'path',
  'match',
  'rewrite',
  'target',
  'conditions',
  'nocase',
  'noEscape',
  'query',
  'fallbackToHttp',
]);
const DIRECTIVE_OF: Record<string, string> = {
  preserveHost: 'ProxyPreserveHost',
  xForwarded: 'ProxyAddHeaders',
};

/** What the server settings add to each member. */
export interface MemberContext {
  readonly timeouts: ServerTimeouts;
  /** Throws for a `wss://`/`https://` member when SSLProxyEngine is not On; `undefined` when it is. */
  readonly needsTls: ((target: string, place: ConfigPlace) => never) | undefined;
}

/**
 * Checks the rules naming a balancer (it must have members; names are lower-cased, as httpd compares them) and
 * builds the `balancers` option from the main server's balancers and the virtual host's.
 */
export function assembleBalancers(
  main: BalancingScope,
  vhost: BalancingScope | undefined,
  placed: readonly { readonly rule: Rule; readonly place: ConfigPlace }[],
  context: MemberContext,
): { rules: Rule[]; balancers: Record<string, BalancerOptions> | undefined; notes: IgnoredDirective[] } {
  const notes: IgnoredDirective[] = [];
  const drafts = mergeServers(main, vhost, notes);
  const rules = placed.map(({ rule, place }) => {
    const target = 'target' in rule ? String(rule.target) : '';
    if (!isBalancerUrl(target)) return rule;
    const name = balancerNameOf(target);
    const draft = drafts.get(name);
    if (draft === undefined || draft.members.length === 0) {
      fail(
        place,
        `balancer://${name} has no BalancerMember${draft === undefined ? ' (it is defined nowhere)' : ''}: httpd answers 503`,
        `define its members: <Proxy "balancer://${name}"> with BalancerMember "ws://host:port" lines`,
      );
    }
    const extra = Object.keys(rule).find((key) => !RULE_KEYS.has(key));
    if (extra !== undefined) {
      const directive = DIRECTIVE_OF[extra] ?? extra;
      fail(
        place,
        `${directive} in a <Location> cannot reach a balancer:// rule: wstunnel sets it per member, not per rule`,
        `set ${directive} at server level, where it applies to every member`,
      );
    }
    return { ...rule, target: target.replace(/^balancer:\/\/[^/]*/i, `balancer://${name}`) } as Rule;
  });
  const balancers: Record<string, BalancerOptions> = {};
  const cookies = [...main.routeCookies, ...(vhost?.routeCookies ?? [])];
  for (const draft of drafts.values()) {
    if (draft.members.length === 0) {
      notes.push({
        ...draft.place,
        directive: `balancer://${draft.name}`,
        reason: 'it has no BalancerMember and no rule uses it',
      });
      continue;
    }
    balancers[draft.name] = balancerOptions(draft, context, cookies, notes);
  }
  notes.push(...unreadRouteCookies(cookies));
  return { rules, balancers: Object.keys(balancers).length === 0 ? undefined : balancers, notes };
}

/**
 * A virtual host sees the main server's balancers (BalancerInherit On). When it names one itself (a ProxyPass to it,
 * say), httpd merges the two: the main server's members, the virtual host's parameters over the main server's, except
 * lbmethod, which the virtual host does not inherit; members the virtual host adds are dropped (all checked with httpd
 * 2.4.71), so they are refused here.
 */
function mergeServers(
  main: BalancingScope,
  vhost: BalancingScope | undefined,
  notes: IgnoredDirective[],
): Map<string, BalancerDraft> {
  const merged = new Map(main.balancers);
  for (const [name, draft] of vhost?.balancers ?? []) {
    const base = main.balancers.get(name);
    if (base === undefined) {
      merged.set(name, draft);
      continue;
    }
    const dropped = draft.members[0];
    if (dropped !== undefined) {
      fail(
        dropped.place,
        `balancer://${name} is also named in the main server (line ${base.place.line}): httpd keeps the main server's members and drops the <VirtualHost>'s`,
        'define the balancer once: in the main server, or only in the <VirtualHost>',
      );
    }
    const failOnStatus = [
      ...new Set([...(draft.params.failOnStatus ?? []), ...(base.params.failOnStatus ?? [])]),
    ];
    const { method, ...inherited } = base.params;
    const params: BalancerParams = {
      ...inherited,
      ...draft.params,
      ...(failOnStatus.length > 0 && { failOnStatus }),
    };
    if (method !== undefined && draft.params.method === undefined) {
      notes.push({
        ...draft.place,
        directive: `balancer://${name}`,
        reason: `this <VirtualHost> names the balancer, so httpd balances it byrequests here: lbmethod=${method} of the main server (line ${base.place.line}) is not inherited (checked with httpd 2.4.71); write lbmethod= in the <VirtualHost> to keep it`,
      });
    }
    merged.set(name, { ...base, params });
  }
  return merged;
}

function balancerOptions(
  draft: BalancerDraft,
  context: MemberContext,
  cookies: readonly RouteCookie[],
  notes: IgnoredDirective[],
): BalancerOptions {
  const { method, failOnStatus, failOnTimeout, maxAttempts, forceRecovery } = draft.params;
  const sticky = stickyOptions(draft.name, draft.params, cookies, notes);
  return {
    members: draft.members.map((member) => memberOptions(member, context)),
    ...(method === undefined ? {} : { method }),
    ...(sticky === undefined ? {} : { sticky }),
    ...(failOnStatus === undefined || failOnStatus.length === 0 ? {} : { failOnStatus }),
    ...(failOnTimeout === undefined ? {} : { failOnTimeout }),
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    ...(forceRecovery === undefined ? {} : { forceRecovery }),
  };
}

function memberOptions(member: MemberDraft, context: MemberContext): BalancerMemberOptions {
  if (context.needsTls !== undefined && /^(?:wss|https):/i.test(member.url))
    context.needsTls(member.url, member.place);
  const options = withIdleTimeout(member.options, context.timeouts);
  return {
    url: member.url,
    ...options,
    ...(member.healthCheck === undefined ? {} : { healthCheck: member.healthCheck }),
  };
}
