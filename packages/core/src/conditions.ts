/** Why: mod_rewrite's `RewriteCond` is how Apache users route "WebSocket only when the client asks", so it is evaluated as httpd does. */

import type { IncomingMessage } from 'node:http';
import { configError } from './errors.ts';
import type { RewriteCondition } from './options.ts';
import { compilePattern } from './pattern.ts';
import type { Captures } from './substitution.ts';

/** What conditions and substitutions read from a request. */
export interface RoutedRequest {
  readonly req: IncomingMessage;
  /** Normalised URL-path (see `parseRequestPath`). */
  readonly path: string;
  readonly query: string;
  readonly hasQuery: boolean;
}

/** A compiled condition list: returns the captures of the last matched regex condition (`%N`), or `undefined` when it fails. */
export type ConditionCheck = (request: RoutedRequest, rule: Captures) => Captures | undefined;

type Getter = (request: RoutedRequest) => string;

const header =
  (name: string): Getter =>
  ({ req }) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? '');
  };
const encrypted = ({ req }: RoutedRequest): boolean =>
  (req.socket as Partial<{ encrypted: boolean }>).encrypted === true;

/** The server variables of mod_rewrite that a proxy can know (mod_rewrite.c lookup_variable). */
const VARIABLES: Record<string, Getter> = {
  HTTP_HOST: header('host'),
  HTTP_USER_AGENT: header('user-agent'),
  HTTP_REFERER: header('referer'),
  HTTP_COOKIE: header('cookie'),
  HTTP_ACCEPT: header('accept'),
  HTTP_FORWARDED: header('forwarded'),
  HTTP_PROXY_CONNECTION: header('proxy-connection'),
  REQUEST_METHOD: ({ req }) => req.method ?? '',
  REQUEST_URI: ({ path }) => decodePath(path),
  QUERY_STRING: ({ query }) => query,
  REMOTE_ADDR: ({ req }) => req.socket.remoteAddress ?? '',
  REMOTE_PORT: ({ req }) => String(req.socket.remotePort ?? ''),
  HTTPS: (request) => (encrypted(request) ? 'on' : 'off'),
  REQUEST_SCHEME: (request) => (encrypted(request) ? 'https' : 'http'),
  SERVER_PROTOCOL: ({ req }) => `HTTP/${req.httpVersion}`,
  // The request line as received (mod_rewrite), not the normalised path rules match.
  THE_REQUEST: ({ req }) => `${req.method} ${req.url} HTTP/${req.httpVersion}`,
};

/** The percent-decoded URL-path, as mod_rewrite's %{REQUEST_URI} (invalid UTF-8 becomes U+FFFD). */
function decodePath(path: string): string {
  if (!path.includes('%')) return path;
  const bytes = Buffer.from(
    path.replace(/%([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  );
  return bytes.toString('utf8');
}

type TestPart = string | Getter | { readonly from: '$' | '%'; readonly n: number };

function compileTest(test: string, where: string): TestPart[] {
  if (typeof test !== 'string') configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: test must be a string`);
  const parts: TestPart[] = [];
  const token = /%\{([^}]*)\}|([$%])(\d)/g;
  let from = 0;
  for (const found of test.matchAll(token)) {
    if (found.index > from) parts.push(test.slice(from, found.index));
    from = found.index + found[0].length;
    if (found[2] !== undefined) {
      parts.push({ from: found[2] as '$' | '%', n: Number(found[3]) });
      continue;
    }
    const name = found[1]!;
    const getter = /^HTTP:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/i.test(name)
      ? header(name.slice(5).toLowerCase())
      : VARIABLES[name.toUpperCase()];
    if (getter === undefined) {
      configError(
        'ERR_WSTUNNEL_INVALID_RULE',
        `${where}: unknown variable %{${name}}; known: %{HTTP:Header-Name}, ${Object.keys(VARIABLES)
          .map((v) => `%{${v}}`)
          .join(', ')}`,
      );
    }
    parts.push(getter);
  }
  if (from < test.length) parts.push(test.slice(from));
  return parts;
}

type Matcher = (text: string) => Captures | undefined;

function compileCondPattern(condition: RewriteCondition, where: string): Matcher {
  const nocase = condition.nocase === true;
  if (condition.pattern instanceof RegExp) return regexMatcher(condition.pattern, nocase, where);
  if (typeof condition.pattern !== 'string')
    configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: pattern must be a string or a RegExp`);
  const negated = condition.pattern.startsWith('!');
  const body = negated ? condition.pattern.slice(1) : condition.pattern;
  const compare = /^(<=|>=|=|<|>)/.exec(body);
  let matcher: Matcher;
  if (compare !== null) {
    const op = compare[0];
    // mod_rewrite.c: "==text" is "=text", and an operand of exactly "" is the empty string (="" tests for absence).
    let written = body.slice(op.length);
    if (op === '=' && written.startsWith('=')) written = written.slice(1);
    if (written === '""') written = '';
    const operand = nocase ? written.toLowerCase() : written;
    matcher = (text) => {
      const value = nocase ? text.toLowerCase() : text;
      const ok =
        op === '='
          ? value === operand
          : op === '<'
            ? value < operand
            : op === '>'
              ? value > operand
              : op === '<='
                ? value <= operand
                : value >= operand;
      return ok ? [] : undefined;
    };
  } else if (/^-[a-zA-Z]+$/.test(body)) {
    return configError(
      'ERR_WSTUNNEL_UNSUPPORTED',
      `${where}: CondPattern "${body}" tests files or integers, which a proxy cannot evaluate; use a regular expression or =text`,
    );
  } else matcher = regexMatcher(body, nocase, where);
  // A negated condition matches when the pattern does not, and then provides no captures.
  return negated ? (text) => (matcher(text) === undefined ? [] : undefined) : matcher;
}

function regexMatcher(pattern: string | RegExp, nocase: boolean, where: string): Matcher {
  const compiled = compilePattern(pattern, nocase, where);
  return (text) => compiled.exec(text) ?? undefined;
}

/** Compiles the conditions of one rule; `undefined` when there are none. */
export function compileConditions(
  conditions: readonly RewriteCondition[] | undefined,
  where: string,
): ConditionCheck | undefined {
  if (conditions === undefined || conditions.length === 0) return undefined;
  if (!Array.isArray(conditions))
    configError('ERR_WSTUNNEL_INVALID_RULE', `${where}: conditions must be an array`);
  const compiled = conditions.map((condition, at) => {
    const here = `${where}, condition #${at + 1}`;
    if (typeof condition !== 'object' || condition === null)
      configError('ERR_WSTUNNEL_INVALID_RULE', `${here}: must be an object`);
    return {
      test: compileTest(condition.test, here),
      match: compileCondPattern(condition, here),
      or: condition.or === true,
    };
  });
  if (compiled.at(-1)!.or) {
    configError(
      'ERR_WSTUNNEL_INVALID_RULE',
      `${where}: the last condition has [OR] but no condition follows it (httpd would then apply the rule even when it fails)`,
    );
  }
  return (request, rule) => {
    let captures: Captures = [];
    for (let i = 0; i < compiled.length; i++) {
      const condition = compiled[i]!;
      let text = '';
      for (const part of condition.test) {
        if (typeof part === 'string') text += part;
        else if (typeof part === 'function') text += part(request);
        else text += (part.from === '$' ? rule : captures)[part.n] ?? '';
      }
      const matched = condition.match(text);
      if (matched !== undefined && matched.length > 0) captures = matched;
      // mod_rewrite.c apply_rewrite_rule: a true [OR] condition skips the rest of its chain, a false one defers to the next.
      if (condition.or) {
        if (matched === undefined) continue;
        while (compiled[i]?.or) i++;
      } else if (matched === undefined) return undefined;
    }
    return captures;
  };
}
