/** Why: operators check a rule table the way they read Apache configs; the table is shown in Apache syntax, numbered in match order. */

import { describeBalancers } from './balancer/describe-balancers.ts';
import {
  type BackendTlsOptions,
  DEFAULT_TIMEOUT_MS,
  type Rule,
  type TargetOptions,
  type WstunnelOptions,
} from './options.ts';

/** An argument as httpd would read it back: quoted when it holds whitespace or quotes, or is empty. */
function argument(value: string): string {
  return value === '' || /[\s"']/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : value;
}

function pattern(value: string | RegExp): string {
  return typeof value === 'string' ? argument(value) : String(value);
}

/** A mod_rewrite argument: its parser (parseargline) takes quotes without escapes, so nothing is escaped. */
function rewriteArgument(value: string | RegExp): string {
  if (typeof value !== 'string') return String(value);
  return value === '' || /[\s"']/.test(value) ? `"${value}"` : value;
}

/** Milliseconds as Apache seconds when whole, else with an `ms` unit. */
function seconds(ms: number): string {
  return ms % 1000 === 0 ? String(ms / 1000) : `${ms}ms`;
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const onOff = (value: boolean): string => (value ? 'on' : 'off');

function tlsParameters(tls: BackendTlsOptions): string[] {
  return [
    ...(tls.rejectUnauthorized === undefined ? [] : [`tls.rejectUnauthorized=${tls.rejectUnauthorized}`]),
    ...(tls.servername === undefined ? [] : [`tls.servername=${tls.servername}`]),
    ...(['ca', 'cert', 'key'] as const)
      .filter((key) => tls[key] !== undefined)
      .map((key) => `tls.${key}=(given)`),
  ];
}

/**
 * Target options as parameters: Apache's worker parameters in lower case (`upgrade=`, `timeout=`,
 * `connectiontimeout=`, `keepalive=`, `max=`), then wstunnel's own in camelCase.
 */
function parameters(options: TargetOptions): string[] {
  const { upgrade, timeout, connectTimeout, keepAlive, max } = options;
  const list: string[] = [];
  if (upgrade !== undefined) {
    list.push(
      `upgrade=${typeof upgrade === 'string' ? (upgrade === 'NONE' ? 'NONE' : 'ANY') : upgrade.join(',')}`,
    );
  }
  if (timeout !== undefined) list.push(`timeout=${seconds(timeout)}`);
  if (connectTimeout !== undefined) list.push(`connectiontimeout=${seconds(connectTimeout)}`);
  if (keepAlive !== undefined) list.push(keepAlive === false ? 'keepalive=Off' : 'keepalive=On');
  if (typeof keepAlive === 'number' && keepAlive > 0) list.push(`keepAliveDelay=${duration(keepAlive)}`);
  if (max !== undefined) list.push(`max=${max}`);
  if (options.idleTimeout !== undefined) list.push(`idleTimeout=${duration(options.idleTimeout)}`);
  for (const key of [
    'fallbackToHttp',
    'preserveHost',
    'xForwarded',
    'trustForwarded',
    'halfClose',
  ] as const) {
    const value = options[key];
    if (value !== undefined) list.push(`${key}=${onOff(value)}`);
  }
  if (options.tls !== undefined) list.push(...tlsParameters(options.tls));
  return list;
}

function line(...words: string[]): string {
  return words.filter((word) => word !== '').join(' ');
}

/** The Apache directives of one rule: one line, or RewriteConds followed by their RewriteRule. */
function ruleLines(rule: Rule): string[] {
  if ('exclude' in rule) {
    return [
      'path' in rule
        ? line('ProxyPass', argument(rule.path), '!')
        : line('ProxyPassMatch', pattern(rule.match), '!'),
    ];
  }
  if ('rewrite' in rule) {
    const { rewrite, target, conditions, nocase, noEscape, query, ...options } = rule;
    const flags = ['P', 'L', ...(nocase ? ['NC'] : []), ...(noEscape ? ['NE'] : [])];
    if (query !== undefined) flags.push(query === 'append' ? 'QSA' : 'QSD');
    return [
      ...(conditions ?? []).map((condition) => {
        const condFlags = [...(condition.nocase ? ['NC'] : []), ...(condition.or ? ['OR'] : [])];
        const suffix = condFlags.length === 0 ? '' : `[${condFlags.join(',')}]`;
        return line(
          'RewriteCond',
          rewriteArgument(condition.test),
          rewriteArgument(condition.pattern),
          suffix,
        );
      }),
      line(
        'RewriteRule',
        rewriteArgument(rewrite),
        rewriteArgument(target),
        `[${flags.join(',')}]`,
        ...parameters(options),
      ),
    ];
  }
  if ('match' in rule) {
    const { match, target, ...options } = rule;
    return [line('ProxyPassMatch', pattern(match), argument(String(target)), ...parameters(options))];
  }
  const { path, target, ...options } = rule;
  return [line('ProxyPass', argument(path), argument(String(target)), ...parameters(options))];
}

/** The effective tunnel-wide defaults, Apache directives first. */
function defaultLines(options: WstunnelOptions): string[] {
  const {
    rules: _rules,
    closeFrames,
    tls,
    preserveHost,
    xForwarded,
    fallbackToHttp,
    timeout,
    ...rest
  } = options;
  const verify = tls?.rejectUnauthorized !== false;
  const lines = [
    `ProxyPreserveHost ${preserveHost ? 'On' : 'Off'}`,
    `ProxyAddHeaders ${xForwarded === false ? 'Off' : 'On'}`,
    `ProxyWebsocketFallbackToProxyHttp ${fallbackToHttp === false ? 'Off' : 'On'}`,
    `ProxyTimeout ${timeout === 0 ? '0 (no deadline)' : seconds(timeout ?? DEFAULT_TIMEOUT_MS)}`,
    `SSLProxyVerify ${verify ? 'require' : 'none'} (CA: ${tls?.ca === undefined ? "Node's bundled roots" : 'given'})`,
  ];
  if (tls?.cert !== undefined) lines.push('SSLProxyMachineCertificateFile (client certificate given)');
  const others = [
    ...parameters(rest),
    ...(tls?.servername === undefined ? [] : [`tls.servername=${tls.servername}`]),
    ...(closeFrames === undefined ? [] : [`closeFrames=${onOff(closeFrames)}`]),
  ];
  if (others.length > 0) lines.push(others.join(' '));
  return lines;
}

/**
 * Renders `options.rules` in Apache syntax, numbered in match order (a RewriteRule's conditions come first, its
 * continuation lines indented under the number), then the effective defaults. Regular expressions given as
 * `RegExp` show as `/source/flags`; options without an Apache equivalent show as camelCase `key=value`.
 */
export function describeRules(options: WstunnelOptions): string[] {
  const lines: string[] = [];
  options.rules.forEach((rule, index) => {
    const number = `${index + 1}. `;
    ruleLines(rule).forEach((text, at) => {
      lines.push(`${at === 0 ? number : ' '.repeat(number.length)}${text}`);
    });
  });
  if (options.rules.length === 0) lines.push('(no rules)');
  lines.push(...describeBalancers(options.balancers));
  lines.push('Defaults for every rule that does not set its own:');
  for (const text of defaultLines(options)) lines.push(`   ${text}`);
  return lines;
}
