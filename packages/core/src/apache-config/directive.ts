/** Why: each directive of a site file is translated, noted as inert, or refused, depending on where it is written; one dispatcher decides which. */

import { splitArguments } from './arguments.ts';
import { readBalancerMember, readBalancerProxySet, referenceBalancer } from './balancer.ts';
import { INERT_DIRECTIVES, isFrontendSsl, REFUSED_DIRECTIVES } from './directives.ts';
import { type ConfigPlace, fail } from './error.ts';
import { parseHcExpr, splitHcExpr } from './hc-expr.ts';
import { readProxyHcTemplate } from './health-check.ts';
import { checkBackendUrl, isBalancerUrl, readProxyPass } from './proxy-pass.ts';
import { readRewriteCond, readRewriteRule } from './rewrite.ts';
import type { ReadContext, ReadState } from './scope.ts';
import { readLocationSetting, readServerSetting } from './settings.ts';
import { readRouteCookieHeader } from './sticky.ts';
import type { ConfigDirective } from './tokenizer.ts';
import { argumentCount, onOff } from './values.ts';
import { readWorkerParameters } from './worker-params.ts';

const FRONTEND_TLS =
  'front-end TLS: wstunnel listens in plain HTTP on --listen, so terminate TLS in front of it (and pass X-Forwarded-Proto with --trust-forwarded)';

function unknown(name: string, place: ConfigPlace): never {
  return fail(
    place,
    `unknown directive "${name}"`,
    'wstunnel reads ProxyPass, ProxyPassMatch, RewriteEngine/RewriteCond/RewriteRule [P], ProxySet, BalancerMember, ProxyHCExpr, ProxyHCTemplate, the Proxy* and SSLProxy* settings and Timeout; remove the line, or see the @wstunnel/cli README',
  );
}

function contextName(context: ReadContext): string {
  return context.kind === 'location' ? '<Location>' : '<Proxy>';
}

function proxyPass(state: ReadState, node: ConfigDirective, context: ReadContext): void {
  const name = node.name.toLowerCase() === 'proxypass' ? 'ProxyPass' : 'ProxyPassMatch';
  if (context.kind === 'proxy') {
    fail(node.place, `${name} not allowed in <Proxy>`, 'write it at server level or in a <Location>');
  }
  const location = context.kind === 'location' ? context.location : undefined;
  const pass = readProxyPass(node.rawArgs, name, location?.scope, node.place);
  state.ignored.push(...pass.ignored);
  if (pass.balancerParameters !== undefined)
    referenceBalancer(state, context.scope, pass.target!, pass.balancerParameters, name, node.place);
  if (location !== undefined) {
    if (location.pass !== undefined) {
      fail(
        node.place,
        `a second ProxyPass in the <Location> of line ${location.place.line}`,
        'httpd keeps one ProxyPass per <Location>: remove one, or use two <Location> sections',
      );
    }
    location.pass = { directive: pass, place: node.place, written: `${node.name} ${node.rawArgs}` };
    return;
  }
  const { regex, pattern, target, options } = pass;
  const matching = regex ? { match: pattern } : { path: pattern };
  const rule =
    target === undefined ? { ...matching, exclude: true as const } : { ...matching, target, ...options };
  context.scope.passRules.push({ rule, place: node.place, written: `${node.name} ${node.rawArgs}` });
}

function rewrite(state: ReadState, node: ConfigDirective, context: ReadContext): void {
  const { name, rawArgs, place } = node;
  if (context.kind !== 'server') {
    fail(
      place,
      `${name} inside ${contextName(context)}: per-directory rewriting is not supported`,
      'move the rewrite directives to server or <VirtualHost> level',
    );
  }
  const scope = context.scope;
  const lower = name.toLowerCase();
  if (lower === 'rewriteengine') {
    const args = splitArguments(rawArgs, place);
    argumentCount(args, 1, 1, name, 'RewriteEngine On', place);
    scope.rewriteEngine = { value: onOff(args[0], name, place), place };
  } else if (lower === 'rewritecond') {
    const { condition, ignored } = readRewriteCond(rawArgs, place);
    state.ignored.push(...ignored);
    scope.pendingConditions.push({ condition, place });
  } else {
    const conditions = scope.pendingConditions.splice(0).map(({ condition }) => condition);
    const { rule, ignored } = readRewriteRule(rawArgs, conditions, place);
    state.ignored.push(...ignored);
    if (rule === undefined) scope.redirects.push({ place, written: `${name} ${rawArgs}` });
    else scope.rewriteRules.push({ rule, place, written: `${name} ${rawArgs}` });
  }
}

function proxySet(state: ReadState, node: ConfigDirective, context: ReadContext): void {
  const { place } = node;
  const words = splitArguments(node.rawArgs, place);
  let url: string | undefined;
  if (context.kind === 'proxy') {
    url = context.url;
    if (url === undefined)
      fail(place, 'ProxySet in <Proxy *> names no backend', 'write <Proxy ws://backend:port/> around it');
  } else if (context.kind === 'server') {
    url = words.shift();
    if (url === undefined || url.includes('=')) {
      fail(
        place,
        'ProxySet outside <Proxy> needs the backend URL first',
        'write ProxySet ws://backend:port/ key=value',
      );
    }
    checkBackendUrl(url, 'ProxySet', place);
  } else
    fail(
      place,
      'ProxySet not allowed in <Location>',
      'write it in <Proxy url>, or as ProxySet url key=value',
    );
  if (isBalancerUrl(url)) return readBalancerProxySet(state, context.scope, url, words, place);
  const { options, ignored } = readWorkerParameters(words, 'ProxySet', place);
  state.ignored.push(...ignored);
  context.scope.tunings.push({ url, options, place });
}

/** Reads one directive in its context: translates it into `state`, notes it as ignored, or throws. */
export function readDirective(state: ReadState, node: ConfigDirective, context: ReadContext): void {
  const { name, rawArgs, place } = node;
  const lower = name.toLowerCase();
  const written = `${name}${rawArgs === '' ? '' : ` ${rawArgs}`}`;
  const note = (reason: string): void => void state.ignored.push({ ...place, directive: written, reason });
  const inert = INERT_DIRECTIVES.get(lower);
  if (inert !== undefined) return note(inert);
  if (isFrontendSsl(lower)) return note(FRONTEND_TLS);
  if (/^(?:order|allow|deny|satisfy)$/.test(lower)) {
    // httpd 2.2 access control, still read by 2.4's mod_access_compat: Order alone restricts nothing, "Allow from
    // all" grants everyone; any other Allow or Deny restricts, which wstunnel cannot do.
    if (lower === 'order' || (lower === 'allow' && /^from\s+all$/i.test(rawArgs)))
      return note('wstunnel does no access control: every request is granted');
    fail(
      place,
      `${written}: access control is not supported`,
      'restrict access in front of wstunnel, or in the backend',
    );
  }
  const variable = /\$\{\w+\}/.exec(rawArgs);
  if (variable !== null) {
    fail(place, `${variable[0]} (Define or environment variable) is not supported`, 'write the value out');
  }
  if (lower === 'header' && readRouteCookieHeader(rawArgs, context, place)) return;
  const refused = REFUSED_DIRECTIVES.get(lower);
  if (refused !== undefined) fail(place, refused.problem, refused.hint);
  if (lower === 'proxypass' || lower === 'proxypassmatch') return proxyPass(state, node, context);
  if (lower === 'rewritecond' || lower === 'rewriterule' || lower === 'rewriteengine') {
    return rewrite(state, node, context);
  }
  if (lower === 'proxyset') return proxySet(state, node, context);
  if (lower === 'balancermember') return readBalancerMember(state, node, context);
  if (lower === 'proxyhcexpr') {
    const { name: exprName, expr } = splitHcExpr(rawArgs, place);
    context.scope.balancing.exprs.set(exprName.toLowerCase(), parseHcExpr(exprName, expr, place));
    return;
  }
  if (lower === 'proxyhctemplate') return readProxyHcTemplate(rawArgs, context.scope.balancing, place);
  if (lower === 'require') {
    if (context.kind === 'server')
      fail(place, 'Require not allowed here', 'Require belongs in a <Location> or <Proxy>');
    if (/^all\s+granted$/i.test(rawArgs))
      return note('wstunnel does no access control: every request is granted');
    fail(
      place,
      `${written}: access control is not supported`,
      'restrict access in front of wstunnel, or in the backend',
    );
  }
  const args = splitArguments(rawArgs, place);
  if (context.kind === 'location') {
    if (!readLocationSetting(name, args, context.location, place)) unknown(name, place);
    return;
  }
  if (context.kind === 'proxy') {
    fail(
      place,
      `${name} not allowed in <Proxy>`,
      'inside <Proxy> wstunnel reads ProxySet, BalancerMember and Require all granted',
    );
  }
  const setting = readServerSetting(name, args, context.scope.settings, place);
  if (setting === false) unknown(name, place);
  if (setting !== undefined) state.ignored.push(setting);
}
