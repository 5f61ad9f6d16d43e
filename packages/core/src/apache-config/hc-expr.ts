/** Why: mod_proxy_hcheck judges a check with an ap_expr (`ProxyHCExpr`); the status and body tests it is written with become the health check's expectations. */

import { type ConfigPlace, fail } from './error.ts';

/** What a `ProxyHCExpr` expects of a check's answer. */
export interface HcCondition {
  /** The statuses that pass: with an expression, httpd checks nothing else, so all of 100-599 when it tests only the body. */
  readonly expectStatus: readonly number[];
  readonly expectBody?: RegExp;
  readonly rejectBody?: RegExp;
}

interface Token {
  readonly kind: 'op' | 'word' | 'string' | 'regex' | 'var' | 'body';
  readonly text: string;
  /** Of a regex: `i` or `''`. */
  readonly flags?: string;
}

const SUPPORTED =
  "wstunnel reads %{REQUEST_STATUS} tests (=~ !~ == != -eq -ne -lt -le -gt -ge in {...}) and hc('body') =~ or !~ /regex/, joined with &&";

/** Splits `ProxyHCExpr name {expr}` (httpd's ap_getword_conf2: a `{...}` argument may hold spaces and nested braces). */
export function splitHcExpr(rawArgs: string, place: ConfigPlace): { name: string; expr: string } {
  const name = /^\S+/.exec(rawArgs)?.[0];
  if (name === undefined)
    fail(
      place,
      'Missing expression name for ProxyHCExpr',
      'write ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}',
    );
  const rest = rawArgs.slice(name.length).trimStart();
  let expr: string;
  let after: string;
  if (rest.startsWith('{')) {
    let depth = 0;
    let end = 0;
    for (; end < rest.length; end++) {
      if (rest[end] === '{') depth++;
      else if (rest[end] === '}' && --depth === 0) break;
    }
    if (depth !== 0)
      fail(place, `ProxyHCExpr ${name}: the { of the expression is not closed`, 'close it with }');
    expr = rest.slice(1, end);
    after = rest.slice(end + 1);
  } else {
    const quoted = /^(["'])((?:\\.|(?!\1).)*)\1([\s\S]*)$/.exec(rest) ?? /^()(\S*)([\s\S]*)$/.exec(rest)!;
    expr = quoted[2]!;
    after = quoted[3]!;
  }
  if (expr.trim() === '')
    fail(place, `Missing expression for ProxyHCExpr ${name}`, 'write the expression in {braces}');
  if (after.trim() !== '')
    fail(
      place,
      `ProxyHCExpr ${name}: extra parameter(s) "${after.trim()}"`,
      'write the expression in {braces}',
    );
  return { name, expr: expr.trim() };
}

function tokenize(expr: string, bad: (why: string) => never): Token[] {
  const tokens: Token[] = [];
  const patterns: [Token['kind'], RegExp][] = [
    ['body', /^hc\(\s*(['"])body\1\s*\)/i],
    ['var', /^%\{([^}]*)\}/],
    ['regex', /^(?:\/((?:\\.|[^\\/])*)\/|m([^\w\s])((?:\\.|(?!\2).)*)\2)(i?)(?![\w])/],
    ['string', /^(?:'([^']*)'|"([^"]*)")/],
    ['op', /^(?:&&|\|\||=~|!~|==|!=|-(?:eq|ne|lt|le|gt|ge)\b|in\b|[(){},!])/i],
    ['word', /^[\w.-]+/],
  ];
  let rest = expr.trimStart();
  while (rest !== '') {
    const found = patterns.map(([kind, re]) => [kind, re.exec(rest)] as const).find(([, m]) => m !== null);
    if (found === undefined) bad(`cannot read "${rest}"`);
    const [kind, match] = found as readonly [Token['kind'], RegExpExecArray];
    const text =
      kind === 'var'
        ? match[1]!.toUpperCase()
        : kind === 'string'
          ? (match[1] ?? match[2]!)
          : kind === 'regex'
            ? (match[1] ?? match[3]!)
            : kind === 'op'
              ? match[0].toLowerCase()
              : match[0];
    tokens.push({ kind, text, ...(kind === 'regex' && { flags: match[4] }) });
    rest = rest.slice(match[0].length).trimStart();
  }
  return tokens;
}

/** ap_expr regexes are PCRE; the common subset reads the same as a JavaScript RegExp, anything else is refused. */
function regexOf(token: Token, bad: (why: string) => never): RegExp {
  try {
    return new RegExp(token.text, token.flags);
  } catch (error) {
    return bad(`the regular expression /${token.text}/ is not valid here: ${(error as Error).message}`);
  }
}

/** Reads a `ProxyHCExpr` expression; anything beyond status and body tests joined with `&&` is refused, naming it. */
export function parseHcExpr(name: string, expr: string, place: ConfigPlace): HcCondition {
  const bad = (why: string): never =>
    fail(place, `ProxyHCExpr ${name} {${expr}} cannot be imported: ${why}`, SUPPORTED);
  const tokens = tokenize(expr, bad);
  let at = 0;
  const statusTests: ((code: number) => boolean)[] = [];
  let expectBody: RegExp | undefined;
  let rejectBody: RegExp | undefined;
  const next = (): Token => tokens[at++] ?? bad('it ends too early');
  const value = (): string => {
    const token = next();
    if (token.kind !== 'string' && token.kind !== 'word') bad(`"${token.text}" is not a value`);
    return token.text;
  };
  const condition = (): void => {
    const subject = next();
    if (subject.kind === 'op' && subject.text === '(') {
      conjunction();
      if (next().text !== ')') bad('a ( is not closed');
      return;
    }
    const op = next();
    if (op.kind !== 'op') bad(`"${op.text}" is not an operator`);
    if (subject.kind === 'body') {
      const regex = next();
      if (regex.kind !== 'regex' || (op.text !== '=~' && op.text !== '!~'))
        bad("hc('body') is only compared with =~ or !~ /regex/");
      if (op.text === '=~')
        expectBody = expectBody === undefined ? regexOf(regex, bad) : bad("two hc('body') =~ tests");
      else rejectBody = rejectBody === undefined ? regexOf(regex, bad) : bad("two hc('body') !~ tests");
      return;
    }
    if (subject.kind !== 'var' || subject.text !== 'REQUEST_STATUS')
      bad(`"${subject.text}" is not %{REQUEST_STATUS} or hc('body')`);
    statusTests.push(statusTest(op.text, bad, next, value));
  };
  const conjunction = (): void => {
    condition();
    while (tokens[at]?.text === '&&') {
      at++;
      condition();
    }
  };
  conjunction();
  if (at < tokens.length)
    bad(tokens[at]!.text === '||' ? '|| is not supported' : `unexpected "${tokens[at]!.text}"`);
  const expectStatus: number[] = [];
  for (let code = 100; code <= 599; code++)
    if (statusTests.every((test) => test(code))) expectStatus.push(code);
  if (expectStatus.length === 0) bad('no status from 100 to 599 passes it');
  return { expectStatus, ...(expectBody && { expectBody }), ...(rejectBody && { rejectBody }) };
}

function statusTest(
  op: string,
  bad: (why: string) => never,
  next: () => Token,
  value: () => string,
): (code: number) => boolean {
  if (op === '=~' || op === '!~') {
    const token = next();
    if (token.kind !== 'regex') bad(`${op} needs a /regex/`);
    const regex = regexOf(token, bad);
    return (code) => regex.test(String(code)) === (op === '=~');
  }
  if (op === '==' || op === '!=') {
    const text = value();
    return (code) => (String(code) === text) === (op === '==');
  }
  if (op === 'in') {
    if (next().text !== '{') bad('in needs a {list}');
    const list = [value()];
    for (let token = next(); token.text !== '}'; token = next()) {
      if (token.text !== ',') bad('the in {list} is malformed');
      list.push(value());
    }
    return (code) => list.includes(String(code));
  }
  const compare: Record<string, (a: number, b: number) => boolean> = {
    '-eq': (a, b) => a === b,
    '-ne': (a, b) => a !== b,
    '-lt': (a, b) => a < b,
    '-le': (a, b) => a <= b,
    '-gt': (a, b) => a > b,
    '-ge': (a, b) => a >= b,
  };
  const test = compare[op] ?? bad(`the operator ${op} is not supported`);
  const text = value();
  if (!/^\d+$/.test(text)) bad(`${op} needs a whole number, not "${text}"`);
  return (code) => test(code, Number(text));
}
