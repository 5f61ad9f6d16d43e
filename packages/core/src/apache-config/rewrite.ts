/** Why: mod_rewrite's `[P]` rules are the manual's recipe for WebSockets on URLs not known in advance; only that proxy subset is safe to import. */

import { compileConditions } from '../conditions.ts';
import { WstunnelConfigError } from '../errors.ts';
import type { RewriteCondition, RewriteRule } from '../options.ts';
import { splitRewriteArguments } from './arguments.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { checkBackendUrl } from './proxy-pass.ts';

const REWRITE_MAP_HINT = 'RewriteMap is not supported; write the values out';

/** Flags of `[A,B=c]`, lower-cased names with their values. */
function readFlags(
  text: string | undefined,
  directive: string,
  place: ConfigPlace,
): [string, string | undefined][] {
  if (text === undefined) return [];
  if (!text.startsWith('[') || !text.endsWith(']')) {
    fail(
      place,
      `${directive}: bad flag delimiters "${text}"`,
      'write the flags in brackets, comma-separated, like [P,L]',
    );
  }
  return text
    .slice(1, -1)
    .split(',')
    .map((flag) => flag.trim())
    .filter((flag) => flag !== '')
    .map((flag) => {
      const equals = flag.indexOf('=');
      return equals === -1
        ? [flag.toLowerCase(), undefined]
        : [flag.slice(0, equals).toLowerCase(), flag.slice(equals + 1)];
    });
}

/** Reads `RewriteCond TestString CondPattern [NC,OR,NV]`. */
export function readRewriteCond(
  rawArgs: string,
  place: ConfigPlace,
): { readonly condition: RewriteCondition; readonly ignored: readonly IgnoredDirective[] } {
  const [test, pattern, flagText] = splitRewriteArguments(rawArgs, place, 'RewriteCond');
  const usage =
    'write RewriteCond TestString CondPattern [flags], like RewriteCond %{HTTP:Upgrade} websocket [NC]';
  if (test === undefined || pattern === undefined) fail(place, 'RewriteCond: bad argument line', usage);
  if (test.toLowerCase() === 'expr') fail(place, 'RewriteCond expr (ap_expr) is not supported', usage);
  if (test.includes('${'))
    fail(place, `RewriteCond ${test}: RewriteMap lookups are not supported`, REWRITE_MAP_HINT);
  if (/%\{LA-[UF]:/i.test(test)) {
    fail(
      place,
      `RewriteCond ${test}: look-ahead (sub-request) variables are not supported`,
      'test a request header with %{HTTP:Name}',
    );
  }
  const body = pattern.startsWith('!') ? pattern.slice(1) : pattern;
  // mod_rewrite: -f, -d, ... are exactly two characters; -lt5, -eq0, ... carry their operand.
  if (/^-(?:[dfFhlLsUx]$|(?:eq|ge|gt|le|lt|ne).)/.test(body)) {
    fail(
      place,
      `RewriteCond ${body}: file, sub-request and integer tests are not supported (a proxy has no file system to test)`,
      'use a regular expression, or =text, <text, >text, <=text, >=text',
    );
  }
  let nocase = false;
  let or = false;
  const ignored: IgnoredDirective[] = [];
  for (const [flag, value] of readFlags(flagText, 'RewriteCond', place)) {
    if (value === undefined && (flag === 'nc' || flag === 'nocase')) nocase = true;
    else if (value === undefined && (flag === 'or' || flag === 'ornext')) or = true;
    else if (value === undefined && (flag === 'nv' || flag === 'novary')) {
      ignored.push({
        ...place,
        directive: `RewriteCond ${rawArgs}`,
        reason: '[NV] changes nothing: wstunnel never adds Vary',
      });
    } else
      fail(
        place,
        `RewriteCond: unknown flag "${flag}"`,
        'RewriteCond takes NC (nocase), OR (ornext) and NV (novary)',
      );
  }
  const condition = { test, pattern, ...(nocase ? { nocase } : {}), ...(or ? { or } : {}) };
  try {
    // Compiled here as well as in the rule table, so a bad pattern or variable is blamed on its own line.
    compileConditions([{ test, pattern, ...(nocase ? { nocase } : {}) }], 'RewriteCond');
  } catch (error) {
    if (!(error instanceof WstunnelConfigError)) throw error;
    fail(
      place,
      error.message.replace(/^RewriteCond, condition #1: /, 'RewriteCond: '),
      'fix the pattern or the variable',
    );
  }
  return { condition, ignored };
}

const UNSUPPORTED_FLAG =
  'wstunnel imports proxy rules only: [P] with L, END, NC, NE, QSA, QSD or B; route anything else before wstunnel';
const ESCAPING_FLAG =
  'wstunnel percent-encodes every capture it puts into the backend URL; use [B] or no flag';

/** Reads `RewriteRule Pattern Substitution [flags]`; `conditions` are the RewriteConds written just before it. */
export function readRewriteRule(
  rawArgs: string,
  conditions: readonly RewriteCondition[],
  place: ConfigPlace,
): { readonly rule: RewriteRule | undefined; readonly ignored: readonly IgnoredDirective[] } {
  const [pattern, target, flagText] = splitRewriteArguments(rawArgs, place, 'RewriteRule');
  const usage = 'write RewriteRule Pattern ws://backend:port/$1 [P,L]';
  if (pattern === undefined || target === undefined) fail(place, 'RewriteRule: bad argument line', usage);
  let proxy = false;
  let nocase = false;
  let noEscape = false;
  let escapeCaptures = false;
  let query: 'append' | 'discard' | undefined;
  let redirect = false;
  for (const [flag, value] of readFlags(flagText, 'RewriteRule', place)) {
    const name = value === undefined ? flag : `${flag}=`;
    if (name === 'p' || name === 'proxy') proxy = true;
    else if (/^(?:r|redirect)=?$/.test(name)) redirect = true;
    else if (name === 'l' || name === 'last' || name === 'end') continue;
    else if (name === 'nc' || name === 'nocase') nocase = true;
    else if (name === 'ne' || name === 'noescape') noEscape = true;
    else if (name === 'b') escapeCaptures = true;
    else if (name === 'qsa' || name === 'qsappend' || name === 'qsd' || name === 'qsdiscard') {
      const wanted = name.startsWith('qsa') ? 'append' : 'discard';
      if (query !== undefined && query !== wanted)
        fail(place, 'RewriteRule: [QSA] and [QSD] together', 'keep one of them');
      query = wanted;
    } else if (['b=', 'bnp', 'backrefnoplus', 'bctls', 'bne='].includes(name)) {
      fail(place, `RewriteRule: [${flag.toUpperCase()}] is not supported`, ESCAPING_FLAG);
    } else
      fail(
        place,
        `RewriteRule: flag [${value === undefined ? flag : `${flag}=${value}`}] is not supported`,
        UNSUPPORTED_FLAG,
      );
  }
  if (proxy && redirect)
    fail(place, 'RewriteRule: [P] and [R] together', 'a rule either proxies or redirects: keep [P]');
  // A redirect is not proxying: it is set aside, and refused only if its server is the one wstunnel runs.
  if (!proxy && redirect) return { rule: undefined, ignored: [] };
  if (!proxy) {
    fail(
      place,
      'only proxy rules ([P]) are supported: a rewrite that is not marked proxy is never proxied',
      'add [P] (as in [P,L]) and an absolute ws:// or http:// URL; wstunnel does no other rewriting, and never proxies a rule not marked [P] (CVE-2024-39573)',
    );
  }
  if (escapeCaptures && noEscape)
    fail(place, 'RewriteRule: [B] and [NE] together', 'drop [NE]: captures are escaped');
  if (pattern.startsWith('!')) {
    fail(
      place,
      `RewriteRule: a negated pattern (${pattern}) is not supported`,
      'use a pattern that matches, and a RewriteCond for the exception',
    );
  }
  if (target === '-') fail(place, 'RewriteRule [P] needs a URL to proxy to, not "-"', usage);
  if (target.includes('${'))
    fail(place, `RewriteRule ${target}: RewriteMap lookups are not supported`, REWRITE_MAP_HINT);
  if (target.includes('%{')) {
    fail(
      place,
      `RewriteRule ${target}: server variables in the substitution are not supported`,
      target.includes('%{REQUEST_URI}')
        ? `capture the path instead: RewriteRule ^(.*)$ ${target.replace('%{REQUEST_URI}', '$1')} [P,QSA,L] (QSA keeps the query, as %{REQUEST_URI} carries none)`
        : 'capture the value in a RewriteCond and use %1..%9',
    );
  }
  checkBackendUrl(target, 'RewriteRule [P]', place);
  const ignored: IgnoredDirective[] = escapeCaptures
    ? [
        {
          ...place,
          directive: `RewriteRule ${rawArgs}`,
          reason: '[B] changes nothing: wstunnel always escapes captures',
        },
      ]
    : [];
  const rule: RewriteRule = {
    rewrite: pattern,
    target,
    ...(conditions.length > 0 ? { conditions } : {}),
    ...(nocase ? { nocase } : {}),
    ...(noEscape ? { noEscape } : {}),
    ...(query === undefined ? {} : { query }),
  };
  return { rule, ignored };
}
