// Why: routing edge cases found in review: path spellings that route differently from what the backend acts on, RE2
// translation gaps, mod_rewrite condition syntax, query handling, and configuration that is accepted but cannot work.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { type RouteDecision, RuleTable, WstunnelConfigError } from '@wstunnel/core';
import { cleanupAfterEach } from '../helpers/cleanup.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { closeServer, listen, rawExchange } from '../helpers/net.ts';
import { backendPathOf, plainRequest, upgradeRequest } from '../helpers/requests.ts';

const defer = cleanupAfterEach();

/** Whether a decision sends the request to a backend (tunnel or plain HTTP). */
function forwarded(decision: RouteDecision): boolean {
  return decision.kind === 'tunnel' || decision.kind === 'http';
}

/** The pathname a WHATWG-URL backend (Node, undici, Deno, Express 5 …) acts on for a request-target. */
function backendSees(requestTarget: string): string {
  return new URL(requestTarget, 'http://backend.invalid').pathname;
}

describe('exclusions cannot be side-stepped by a spelling the backend reads as the excluded path', () => {
  const table = new RuleTable([
    { path: '/private', exclude: true },
    { match: '^/admin$', exclude: true },
    { path: '/', target: 'http://backend.invalid/' },
  ]);
  for (const spelling of ['/private#x', '/private\\x', '/private\\secret', '/admin#', '/admin#x']) {
    test(`${spelling} (backend pathname ${backendSees(spelling)}) is not forwarded`, () => {
      const decision = table.route(plainRequest(spelling));
      // Either refused (400), or treated as the excluded path (pass); never proxied to the catch-all.
      assert.ok(
        !forwarded(decision),
        `forwarded as ${backendPathOf(decision)}, which the backend reads as ${backendSees(spelling)}`,
      );
      assert.ok(!forwarded(table.route(upgradeRequest(spelling))));
    });
  }

  test('a fragment never reaches a backend request line (RFC 9112 3.2: no "#" in a request-target)', () => {
    const prefix = new RuleTable([{ path: '/ws/', target: 'ws://b/' }]);
    const decision = prefix.route(plainRequest('/ws/a#/b'));
    if (forwarded(decision)) assert.doesNotMatch(String(backendPathOf(decision)), /#/);
  });
});

describe('the same bypass on the wire: Node accepts "#" and "\\" in a request-target', () => {
  for (const spelling of ['/private#x', '/private\\x']) {
    test(`GET ${spelling} never reaches a backend that reads it as an excluded path`, async () => {
      const reached: string[] = [];
      const backend = createServer((req, res) => {
        const pathname = new URL(req.url ?? '/', 'http://backend.invalid').pathname;
        reached.push(pathname);
        res.writeHead(200, { 'content-length': pathname.length }).end(pathname);
      });
      const port = await listen(backend);
      defer(() => closeServer(backend));
      const gateway = await startTestGateway({
        rules: [
          { path: '/private', exclude: true },
          { path: '/', target: `http://127.0.0.1:${port}/` },
        ],
      });
      defer(() => gateway.close(0));
      const response = await rawExchange(
        gateway.port,
        `GET ${spelling} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`,
      );
      assert.deepEqual(reached, [], `the backend served ${reached.join()}: ${response.split('\r\n')[0]}`);
    });
  }
});

describe('path-parameter dot segments (Tomcat, Jetty, Spring read "..;" as "..")', () => {
  const table = new RuleTable([{ path: '/pub/', target: 'http://backend.invalid/public/' }]);
  for (const vector of ['/pub/..;/secret', '/pub/..;x=1/secret', '/pub/%2e%2e;/secret']) {
    test(`${vector} is 400 like /pub/../secret`, () => {
      assert.equal(backendPathOf(table.route(plainRequest('/pub/../secret'))), 400, 'sanity');
      assert.equal(backendPathOf(table.route(plainRequest(vector))), 400);
    });
  }
});

describe('RegExp rules: JavaScript syntax that RE2 cannot honour is a configuration error, not a silent change', () => {
  test('a named backreference \\k<name> is refused like \\1 (not read as the literal text "k<name>")', () => {
    assert.throws(
      () => new RuleTable([{ match: /^\/ws\/(\d)\1$/, target: 'ws://b/' }]),
      WstunnelConfigError,
      'sanity: numbered backreferences are refused',
    );
    let table: RuleTable | undefined;
    try {
      table = new RuleTable([{ match: /^\/ws\/(?<d>\d)\k<d>$/, target: 'ws://b/' }]);
    } catch (error) {
      assert.ok(error instanceof WstunnelConfigError);
      return;
    }
    // Accepted: it must then mean what JavaScript means.
    assert.equal(table.route(plainRequest('/ws/11')).kind, 'http', '/ws/11 matches in JavaScript');
    assert.equal(
      table.route(plainRequest('/ws/1k<d>')).kind,
      'pass',
      '/ws/1k<d> does not match in JavaScript',
    );
  });

  test('a sticky (y) RegExp is anchored at the start, as in JavaScript, or refused', () => {
    let table: RuleTable | undefined;
    try {
      table = new RuleTable([{ match: /\/ws\//y, target: 'ws://b/' }]);
    } catch (error) {
      assert.ok(error instanceof WstunnelConfigError);
      return;
    }
    assert.equal(/\/ws\//y.test('/evil/ws/x'), false);
    assert.equal(table.route(plainRequest('/evil/ws/x')).kind, 'pass');
  });
});

describe('RewriteCond pattern syntax as mod_rewrite reads it', () => {
  const rule = (pattern: string) =>
    new RuleTable([
      { rewrite: '^/(.*)$', target: 'ws://b/$1', conditions: [{ test: '%{HTTP:X-Probe}', pattern }] },
    ]);
  test('=""  compares with the empty string (mod_rewrite: "" represents an empty string)', () => {
    const table = rule('=""');
    assert.equal(table.route(plainRequest('/x')).kind, 'http', 'an absent header is the empty string');
    assert.equal(table.route(plainRequest('/x', { 'x-probe': 'v' })).kind, 'pass');
  });
  test('!=""  is true for a non-empty header', () => {
    const table = rule('!=""');
    assert.equal(table.route(plainRequest('/x', { 'x-probe': 'v' })).kind, 'http');
    assert.equal(table.route(plainRequest('/x')).kind, 'pass');
  });
  test('==text is the same string comparison as =text (mod_rewrite skips the second "=")', () => {
    const table = rule('==yes');
    assert.equal(table.route(plainRequest('/x', { 'x-probe': 'yes' })).kind, 'http');
  });
  test('[OR] with negation and captures: %1 comes from the last regex condition that matched', () => {
    const table = new RuleTable([
      {
        rewrite: '^/r/(.*)',
        target: 'ws://b/got/$1/%1',
        conditions: [
          { test: '%{HTTP:X-D}', pattern: '^(d\\w+)$', or: true },
          { test: '%{HTTP:X-E}', pattern: '^(e\\w+)$' },
          { test: '%{HTTP:X-F}', pattern: '!^no$' },
        ],
      },
    ]);
    assert.equal(backendPathOf(table.route(plainRequest('/r/z', { 'x-d': 'dd', 'x-e': 'ee' }))), '/got/z/dd');
    assert.equal(backendPathOf(table.route(plainRequest('/r/z', { 'x-e': 'ee' }))), '/got/z/ee');
    assert.equal(backendPathOf(table.route(plainRequest('/r/z', { 'x-e': 'ee', 'x-f': 'no' }))), undefined);
  });
  test('a condition capture cannot add a query parameter, a path segment escape or a dot segment', () => {
    const table = new RuleTable([
      {
        rewrite: '^/(.*)$',
        target: 'ws://b/p/%1?k=%2',
        query: 'discard',
        conditions: [{ test: '%{HTTP:X-A}|%{HTTP:X-B}', pattern: '^([^|]*)\\|(.*)$' }],
      },
    ]);
    const decision = table.route(plainRequest('/x', { 'x-a': 'a?b=c#d', 'x-b': '1&admin=1 2' }));
    assert.equal(backendPathOf(decision), '/p/a%3Fb=c%23d?k=1%26admin%3D1%202');
    assert.equal(backendPathOf(table.route(plainRequest('/x', { 'x-a': '..', 'x-b': '' }))), 400);
    // A %N from a header is literal text (as in mod_rewrite): its "%" is a percent sign, so ".%2E" stays data.
    assert.equal(
      backendPathOf(table.route(plainRequest('/x', { 'x-a': '.%2E', 'x-b': '' }))),
      '/p/.%252E?k=',
    );
  });
});

describe('rule targets that are accepted must be usable', () => {
  /** Builds the table; a configuration error is an acceptable answer, a table that refuses every request is not. */
  function routeOrConfigError(target: string, url: string): RouteDecision | 'config-error' {
    let table: RuleTable;
    try {
      table = new RuleTable([{ match: '^/ws/(.*)$', target }]);
    } catch (error) {
      assert.ok(error instanceof WstunnelConfigError, `a ${(error as Error).constructor.name} instead`);
      return 'config-error';
    }
    return table.route(plainRequest(url));
  }

  for (const target of ['ws://b/c d/$1', 'ws://b/caf\u00e9/$1', 'ws://b/x"y/$1', 'ws://b/x{y}/$1']) {
    test(`${JSON.stringify(target)} is escaped like a prefix target, or refused at configuration (not 400 on every request)`, () => {
      const decision = routeOrConfigError(target, '/ws/x');
      if (decision === 'config-error') return;
      assert.equal(decision.kind, 'http', `every request is ${backendPathOf(decision)}`);
    });
  }

  test('a "#" in a ProxyPassMatch target is refused like in a ProxyPass target, never sent on the request line', () => {
    assert.throws(() => new RuleTable([{ path: '/ws/', target: 'ws://b/x#y' }]), WstunnelConfigError);
    const decision = routeOrConfigError('ws://b/x#y$1', '/ws/z');
    if (decision === 'config-error') return;
    assert.doesNotMatch(String(backendPathOf(decision)), /#/);
  });

  test('a target path with an invalid %-escape is refused, as a rule path with one is', () => {
    assert.throws(() => new RuleTable([{ path: '/a%zz/', target: 'ws://b/' }]), WstunnelConfigError);
    assert.throws(() => new RuleTable([{ path: '/ws/', target: 'ws://b/%zz/' }]), WstunnelConfigError);
  });

  test('a backslash in a target (WHATWG URL reads it as "/") is refused in the prefix and the regex form alike', () => {
    assert.throws(() => new RuleTable([{ path: '/ws/', target: 'ws://b\\x/' }]), WstunnelConfigError);
    assert.equal(routeOrConfigError('ws://b\\x/$1', '/ws/a'), 'config-error');
  });

  test('a rule path with a non-ASCII character can match (requests arrive percent-encoded), or is refused', () => {
    let table: RuleTable;
    try {
      table = new RuleTable([{ path: '/caf\u00e9/', target: 'ws://b/' }]);
    } catch (error) {
      assert.ok(error instanceof WstunnelConfigError);
      return;
    }
    assert.equal(backendPathOf(table.route(plainRequest('/caf%C3%A9/x'))), '/x');
  });
});

describe('query handling per rule kind', () => {
  const cases: [
    string,
    ConstructorParameters<typeof RuleTable>[0][number],
    string,
    string | number | undefined,
  ][] = [
    ['prefix keeps', { path: '/p/', target: 'ws://b/q/' }, '/p/x?a=1', '/q/x?a=1'],
    ['prefix keeps an empty ?', { path: '/p/', target: 'ws://b/q/' }, '/p/x?', '/q/x?'],
    ['prefix merges the target query', { path: '/p/', target: 'ws://b/q/?t=1' }, '/p/x?a=1', '/q/x?t=1&a=1'],
    ['match merges', { match: '^/p/(.*)$', target: 'ws://b/q/$1?t=1' }, '/p/x?a=1', '/q/x?t=1&a=1'],
    ['match keeps', { match: '^/p/(.*)$', target: 'ws://b/q/$1' }, '/p/x?a=1', '/q/x?a=1'],
    ['rewrite replaces', { rewrite: '^/p/(.*)$', target: 'ws://b/q/$1?t=1' }, '/p/x?a=1', '/q/x?t=1'],
    [
      'rewrite QSA',
      { rewrite: '^/p/(.*)$', target: 'ws://b/q/$1?t=1', query: 'append' },
      '/p/x?a=1',
      '/q/x?t=1&a=1',
    ],
    ['rewrite QSD', { rewrite: '^/p/(.*)$', target: 'ws://b/q/$1', query: 'discard' }, '/p/x?a=1', '/q/x'],
    ['rewrite trailing ?', { rewrite: '^/p/(.*)$', target: 'ws://b/q/$1?' }, '/p/x?a=1', '/q/x'],
    [
      'rewrite trailing ? with QSA keeps the query (splitout_queryargs)',
      { rewrite: '^/p/(.*)$', target: 'ws://b/q/$1?', query: 'append' },
      '/p/x?a=1',
      '/q/x?a=1',
    ],
    // A ProxyPassMatch target ending in "?" adds an empty query parameter in front of the client's.
    ['match target ending in ?', { match: '^/p/(.*)$', target: 'ws://b/q/$1?' }, '/p/x?a=1', '/q/x?a=1'],
  ];
  for (const [name, rule, url, expected] of cases) {
    test(`${name}: ${url} → ${expected}`, () => {
      assert.equal(backendPathOf(new RuleTable([rule]).route(plainRequest(url))), expected);
    });
  }
});
