// Why: every rule kind routes as Apache 2.4.71 does on the same configuration (checked side by side), and no request
// text can change the backend's host, path segments or query through a capture.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Rule, RuleTable, WstunnelConfigError } from '@wstunnel/core';
import { backendPathOf, plainRequest, upgradeRequest } from '../helpers/requests.ts';

type Row = [request: string, expected: string | number | undefined, headers?: Record<string, string>];

function routes(name: string, rules: Rule[], plain: Row[], upgrade: Row[] = []): void {
  describe(name, () => {
    const table = new RuleTable(rules);
    for (const [url, expected, headers] of plain) {
      test(`plain ${url} ${headers ? JSON.stringify(headers) : ''} → ${expected ?? 'pass'}`, () => {
        assert.equal(backendPathOf(table.route(plainRequest(url, headers))), expected);
      });
    }
    for (const [url, expected, headers] of upgrade) {
      test(`upgrade ${url} ${headers ? JSON.stringify(headers) : ''} → ${expected ?? 'pass'}`, () => {
        const decision = table.route(upgradeRequest(url, headers));
        if (typeof expected === 'string') assert.equal(decision.kind, 'tunnel');
        assert.equal(backendPathOf(decision), expected);
      });
    }
  });
}

routes(
  'ProxyPassMatch ^/(myApp/ws)$ ws://backend:9080/$1, then ProxyPass / http://backend:9080/ (recipe 2)',
  [
    { match: '^/(myApp/ws)$', target: 'ws://backend:9080/$1' },
    { path: '/', target: 'http://backend:9080/' },
  ],
  [
    ['/myApp/ws', '/myApp/ws'],
    ['/other?x=1', '/other?x=1'],
    ['/myApp/ws/x', '/myApp/ws/x'],
  ],
  [
    ['/myApp/ws', '/myApp/ws'],
    ['/myApp/ws?room=1', '/myApp/ws?room=1'],
  ],
);

describe('recipe 2: who takes what', () => {
  const table = new RuleTable([
    { match: '^/(myApp/ws)$', target: 'ws://backend:9080/$1' },
    { path: '/', target: 'http://backend:9080/' },
  ]);
  test('an upgrade outside the WebSocket-only URL is proxied as plain HTTP by the http:// rule', () => {
    const decision = table.route(upgradeRequest('/other'));
    assert.equal(decision.kind, 'http');
    assert.equal(decision.kind === 'http' && decision.rule.index, 1);
  });
  test('a plain request to the WebSocket URL falls back to HTTP on the ws:// rule', () => {
    const decision = table.route(plainRequest('/myApp/ws'));
    assert.equal(decision.kind === 'http' && decision.rule.index, 0);
  });
});

routes(
  'regex substitution',
  [
    { match: '^/nobr', target: 'ws://b/base' },
    { match: '^/whole/(.*)$', target: 'ws://b/x$0' },
    { match: '^/opt/(a)?b(.*)$', target: 'ws://b/p/$1-$2' },
    { match: '^/cap/(.*)$', target: 'http://b/base/$1' },
    { match: '^/q/([^/]*)$', target: 'http://b/base?x=$1' },
    { match: '^/dots(.*)$', target: 'http://b/base/$1' },
    { match: '^/two/([^/]+)/([^/]+)$', target: 'http://b/$2/$1/$9' },
    { match: '(?i)^/CASE/(.*)$', target: 'http://b/c/$1' },
  ],
  [
    // Apache's default substitution: no backreference, the whole path is appended and the query kept.
    ['/nobr/x?y=1', '/base/nobr/x?y=1'],
    ['/nobrzz', '/base/nobrzz'],
    ['/whole/q', '/x/whole/q'],
    ['/opt/bc', '/p/-c'],
    ['/opt/abc', '/p/a-c'],
    ['/cap/a%20b', '/base/a%20b'],
    ['/cap/%61bc', '/base/abc'],
    ['/cap/a%0d%0aX:%20y', '/base/a%0D%0AX:%20y'],
    ['/cap/a%3Fb', '/base/a%3Fb'],
    ['/cap/a%23b', '/base/a%23b'],
    ['/cap/a%25b', '/base/a%25b'],
    ['/cap/a%2Fb', '/base/a%2Fb'],
    ['/cap/a?q=1', '/base/a?q=1'],
    ['/cap/%C3%A4', '/base/%C3%A4'],
    // In the query a capture cannot add a parameter: & = + ; are escaped (mod_rewrite [B]).
    ['/q/a&b=c', '/base?x=a%26b%3Dc'],
    ['/q/a+b;c', '/base?x=a%2Bb%3Bc'],
    ['/q/z?k=1', '/base?x=z&k=1'],
    // A capture that becomes a dot segment in the backend path is refused.
    ['/dots..', 400],
    ['/dots.', 400],
    ['/two/a/b', '/b/a/'],
    ['/case/x', '/c/x'],
  ],
);

describe('substitution targets are checked at configuration time', () => {
  const invalid: [string, Rule][] = [
    ['a backreference in the host', { match: '^/(.*)$', target: 'ws://$1.internal/' }],
    ['a backreference in the port', { match: '^/(\\d+)$', target: 'ws://b:$1/' }],
    ['a condition backreference in the host', { rewrite: '^/(.*)$', target: 'ws://%1/x' }],
    ['a relative substitution', { rewrite: '^/(.*)$', target: '/local/$1' }],
    ['lookahead (needs backtracking)', { match: '^/(?=a)', target: 'ws://b/' }],
    ['a backreference inside the pattern', { match: '^/(a)\\1$', target: 'ws://b/' }],
    ['an unbalanced pattern', { match: '^/(a', target: 'ws://b/' }],
    ['a RegExp with lookbehind', { match: /(?<!x)y/, target: 'ws://b/' }],
  ];
  for (const [name, rule] of invalid) {
    test(name, () => {
      assert.throws(
        () => new RuleTable([rule]),
        (error: unknown) => error instanceof WstunnelConfigError && /rule #1/.test(error.message),
      );
    });
  }
});

test('a catastrophic-backtracking pattern runs in linear time on a crafted path', () => {
  const table = new RuleTable([{ match: '^/(a+)+$', target: 'ws://b/' }]);
  // With a backtracking engine this is 2^4000 steps; RE2 answers at once (a hang would time the test out).
  assert.equal(table.route(plainRequest(`/${'a'.repeat(4000)}!`)).kind, 'pass');
});

const recipe3: Rule[] = [
  {
    rewrite: '^/?(.*)',
    target: 'ws://example.com:9080/$1',
    conditions: [
      { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
      { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
    ],
  },
  { path: '/', target: 'http://example.com:9080/' },
];

routes(
  'RewriteCond Upgrade/Connection + RewriteRule [P] before ProxyPass / (recipe 3)',
  recipe3,
  [
    ['/chat/x?y=1', '/chat/x?y=1'],
    ['/', '/'],
  ],
  [
    ['/chat/x?y=1', '/chat/x?y=1'],
    ['/chat', '/chat', { upgrade: 'WebSocket' }],
    ['/', '/'],
  ],
);

test('recipe 3: upgrades go to the rewrite rule, everything else to ProxyPass', () => {
  const table = new RuleTable(recipe3);
  const upgrade = table.route(upgradeRequest('/chat'));
  const plain = table.route(plainRequest('/chat'));
  assert.equal(upgrade.kind === 'tunnel' && upgrade.rule.index, 0);
  assert.equal(plain.kind === 'http' && plain.rule.index, 1);
});

describe('RewriteCond: [OR] binds tighter than the implicit AND, as in mod_rewrite', () => {
  // Apache 2.4.71: X-A =yes [OR] / X-B !^no$ / X-C ^(c\w+)$ behaves as (A OR B) AND C; %1 is from the last match.
  const table = new RuleTable([
    {
      rewrite: '^/r7/(.*)',
      target: 'http://b/got/$1/%1',
      conditions: [
        { test: '%{HTTP:X-A}', pattern: '=yes', or: true },
        { test: '%{HTTP:X-B}', pattern: '!^no$' },
        { test: '%{HTTP:X-C}', pattern: '^(c\\w+)$' },
      ],
    },
    {
      rewrite: '^/r7b/(.*)',
      target: 'http://b/gotb/$1/%1',
      conditions: [
        { test: '%{HTTP:X-D}', pattern: '^(d\\w+)$', or: true },
        { test: '%{HTTP:X-E}', pattern: '^(e\\w+)$' },
      ],
    },
  ]);
  const rows: [headers: Record<string, string>, path: string, expected: string | undefined][] = [
    [{ 'x-a': 'yes', 'x-b': 'no', 'x-c': 'cat' }, '/r7/z', '/got/z/cat'],
    [{ 'x-a': 'no', 'x-b': 'no', 'x-c': 'cat' }, '/r7/z', undefined],
    [{ 'x-a': 'no', 'x-b': 'other', 'x-c': 'cat' }, '/r7/z', '/got/z/cat'],
    [{ 'x-a': 'yes', 'x-b': 'other' }, '/r7/z', undefined],
    [{ 'x-c': 'cat' }, '/r7/z', '/got/z/cat'],
    [{ 'x-a': 'YES', 'x-b': 'no', 'x-c': 'cat' }, '/r7/z', undefined],
    [{ 'x-a': 'no', 'x-b': 'NO', 'x-c': 'cat' }, '/r7/z', '/got/z/cat'],
    [{ 'x-c': 'dog' }, '/r7/z', undefined],
    [{ 'x-d': 'dd', 'x-e': 'ee' }, '/r7b/z', '/gotb/z/dd'],
    [{ 'x-e': 'ee' }, '/r7b/z', '/gotb/z/ee'],
    [{ 'x-d': 'dd' }, '/r7b/z', '/gotb/z/dd'],
    [{}, '/r7b/z', undefined],
  ];
  for (const [headers, path, expected] of rows) {
    test(`${JSON.stringify(headers)} ${path} → ${expected ?? 'pass'}`, () => {
      assert.equal(backendPathOf(table.route(plainRequest(path, headers))), expected);
    });
  }
});

routes(
  'RewriteCond on method, host, remote address, query, with NC and comparisons',
  [
    {
      rewrite: '^/m/(.*)',
      target: 'http://b/post/$1',
      conditions: [{ test: '%{REQUEST_METHOD}', pattern: '=POST' }],
    },
    {
      rewrite: '^/h/(.*)',
      target: 'http://b/api/$1',
      conditions: [{ test: '%{HTTP_HOST}', pattern: '^API\\.', nocase: true }],
    },
    {
      rewrite: '^/ip/(.*)',
      target: 'http://b/lan/$1',
      conditions: [{ test: '%{REMOTE_ADDR}', pattern: '^10\\.' }],
    },
    {
      rewrite: '^/qs/(.*)',
      target: 'http://b/ws/$1',
      conditions: [{ test: '%{QUERY_STRING}', pattern: '(^|&)transport=(\\w+)' }],
    },
    { rewrite: '^/lt/(.*)', target: 'http://b/old/$1', conditions: [{ test: '%{HTTP:X-V}', pattern: '<2' }] },
    {
      rewrite: '^/eq/(.*)',
      target: 'http://b/eq/$1',
      conditions: [{ test: '%{HTTP:X-V}', pattern: '=abc', nocase: true }],
    },
    { rewrite: '^/ref/(\\w+)', target: 'http://b/ref/$1', conditions: [{ test: '$1', pattern: '^ok$' }] },
    { rewrite: '^/NC/(.*)', target: 'http://b/nc/$1', nocase: true },
  ],
  [
    ['/m/x', undefined],
    ['/h/x', '/api/x', { host: 'api.example' }],
    ['/h/x', undefined, { host: 'www.example' }],
    ['/ip/x', undefined],
    ['/qs/x?transport=websocket', '/ws/x?transport=websocket'],
    ['/qs/x?t=1', undefined],
    ['/lt/x', '/old/x', { 'x-v': '1' }],
    ['/lt/x', undefined, { 'x-v': '3' }],
    ['/eq/x', '/eq/x', { 'x-v': 'ABC' }],
    ['/ref/ok', '/ref/ok'],
    ['/ref/no', undefined],
    ['/nc/x', '/nc/x'],
  ],
);

describe('RewriteCond on the request method and the client address', () => {
  const table = new RuleTable([
    {
      rewrite: '^/m/(.*)',
      target: 'http://b/post/$1',
      conditions: [{ test: '%{REQUEST_METHOD}', pattern: '=POST' }],
    },
    {
      rewrite: '^/ip/(.*)',
      target: 'http://b/lan/$1',
      conditions: [{ test: '%{REMOTE_ADDR}', pattern: '^10\\.' }],
    },
  ]);
  test('a POST matches =POST', () => {
    assert.equal(backendPathOf(table.route(plainRequest('/m/x', {}, { method: 'POST' }))), '/post/x');
  });
  test('a client in 10/8 matches', () => {
    assert.equal(
      backendPathOf(table.route(plainRequest('/ip/x', {}, { remoteAddress: '10.1.2.3' }))),
      '/lan/x',
    );
  });
});

routes(
  'RewriteRule query handling: kept, replaced, [QSA], [QSD] (Apache 2.4.71)',
  [
    { rewrite: '^/keep/(.*)', target: 'ws://b/$1' },
    { rewrite: '^/fixed/(.*)', target: 'ws://b/$1?fixed=1' },
    { rewrite: '^/qsa/(.*)', target: 'ws://b/$1?fixed=1', query: 'append' },
    { rewrite: '^/qsd/(.*)', target: 'ws://b/$1?fixed=1', query: 'discard' },
    { rewrite: '^/qsd2/(.*)', target: 'ws://b/$1', query: 'discard' },
    { rewrite: '^/empty/(.*)', target: 'ws://b/$1?' },
    { rewrite: '^/emptyqsa/(.*)', target: 'ws://b/$1?', query: 'append' },
    { rewrite: '^/literal$', target: 'ws://b/fixed' },
  ],
  [
    ['/keep/p?orig=2', '/p?orig=2'],
    ['/fixed/p?orig=2', '/p?fixed=1'],
    ['/qsa/p?orig=2', '/p?fixed=1&orig=2'],
    ['/qsd/p?orig=2', '/p?fixed=1'],
    ['/qsd2/p?orig=2', '/p'],
    ['/empty/p?orig=2', '/p'],
    ['/emptyqsa/p?orig=2', '/p?orig=2'],
    // A RewriteRule without backreference replaces the path (no ProxyPassMatch-style appending).
    ['/literal?x=1', '/fixed?x=1'],
  ],
);

routes(
  '[NE] turns capture escaping off only when asked',
  [
    { rewrite: '^/esc/(.*)', target: 'http://b/x?v=$1' },
    { rewrite: '^/ne/(.*)', target: 'http://b/x?v=$1', noEscape: true },
  ],
  [
    ['/esc/a&b', '/x?v=a%26b'],
    ['/ne/a&b', '/x?v=a&b'],
    // Even unescaped, a capture comes from a still-encoded path: CR/LF stay %0D%0A and cannot split the request.
    ['/ne/a%0d%0aX:%20y', '/x?v=a%0D%0AX:%20y'],
  ],
);

routes(
  'exclusions stop matching and hand the request on untouched',
  [
    { path: '/ws/private', exclude: true },
    { match: '\\.map$', exclude: true },
    { path: '/ws/', target: 'ws://b/' },
  ],
  [
    ['/ws/private', undefined],
    ['/ws/private/x', undefined],
    ['/ws/privateer', '/privateer'],
    ['/ws/app.js.map', undefined],
    ['/ws/app.js', '/app.js'],
  ],
  [
    ['/ws/private/x', undefined],
    ['/ws/public', '/public'],
  ],
);

routes(
  'upgrade= token lists, ANY and NONE',
  [
    { path: '/h/', target: 'http://b/' },
    { path: '/hw/', target: 'http://b/', upgrade: ['websocket'] },
    { path: '/list/', target: 'ws://b/', upgrade: ['foo', 'websocket'] },
    { path: '/any/', target: 'ws://b/', upgrade: 'ANY' },
    { path: '/none/', target: 'ws://b/', upgrade: 'NONE' },
  ],
  [
    ['/h/x', '/x'],
    ['/hw/x', '/x'],
  ],
  [
    ['/hw/x', '/x'],
    ['/list/x', '/x', { upgrade: 'foo' }],
    ['/list/x', '/x', { upgrade: 'WebSocket' }],
    ['/any/x', '/x', { upgrade: 'h2c' }],
    ['/any/x', '/x', { upgrade: 'anything/2' }],
    ['/none/x', '/x', { upgrade: 'whatever' }],
  ],
);

describe('upgrade tokens decide between tunnel and plain HTTP', () => {
  const table = new RuleTable([
    { path: '/h/', target: 'http://b/' },
    { path: '/list/', target: 'ws://b/', upgrade: ['foo', 'websocket'] },
    { path: '/any/', target: 'ws://b/', upgrade: 'ANY' },
    { path: '/none/', target: 'ws://b/', upgrade: 'NONE' },
    { path: '/ws/', target: 'ws://b/' },
  ]);
  const kind = (url: string, headers: Record<string, string>) => table.route(plainRequest(url, headers));
  test('an http:// rule without upgrade= proxies a WebSocket request as plain HTTP (Apache strips Upgrade)', () => {
    assert.equal(kind('/h/x', { connection: 'Upgrade', upgrade: 'websocket' }).kind, 'http');
  });
  test('a token outside the list is plain HTTP; tokens are whole, not prefixes', () => {
    assert.equal(kind('/list/x', { connection: 'Upgrade', upgrade: 'bar' }).kind, 'http');
    assert.equal(kind('/ws/x', { connection: 'Upgrade', upgrade: 'websocketX' }).kind, 'http');
    assert.equal(kind('/ws/x', { connection: 'Upgrade', upgrade: 'h2c' }).kind, 'http');
  });
  test('ANY tunnels the protocol the client asked for', () => {
    const decision = kind('/any/x', { connection: 'Upgrade', upgrade: 'h2c' });
    assert.equal(decision.kind === 'tunnel' && decision.token, 'h2c');
  });
  test('NONE tunnels any upgrade request as a WebSocket, whatever protocol it names', () => {
    const named = kind('/none/x', { connection: 'Upgrade', upgrade: 'foo' });
    const several = kind('/none/x', { connection: 'Upgrade', upgrade: 'h2c, foo' });
    assert.equal(named.kind === 'tunnel' && named.token, 'websocket');
    assert.equal(several.kind === 'tunnel' && several.token, 'websocket');
    // Node hands a request over as an upgrade only when it carries Upgrade; without one it is plain.
    assert.equal(kind('/none/x', { connection: 'Upgrade' }).kind, 'http');
    assert.equal(kind('/none/x', {}).kind, 'http', 'a request that asks for no upgrade is not tunnelled');
  });
  test('a body on an upgrade the rule would tunnel is refused, not forwarded ahead of the tunnel', () => {
    const decision = kind('/ws/x', { connection: 'Upgrade', upgrade: 'websocket', 'content-length': '5' });
    assert.deepEqual(decision.kind === 'reject' && decision.status, 400);
  });
  test('several protocols offered, one of them allowed, is malformed', () => {
    assert.equal(backendPathOf(kind('/ws/x', { connection: 'Upgrade', upgrade: 'websocket, h2c' })), 400);
  });
});

routes(
  'ProxyWebsocketFallbackToProxyHttp On (default) and Off',
  [
    { path: '/on/', target: 'ws://b/' },
    { path: '/off/', target: 'ws://b/ws/', fallbackToHttp: false },
    { path: '/off/', target: 'http://b/http/' },
  ],
  [
    ['/on/x', '/x'],
    ['/off/x', '/http/x'],
  ],
  [['/off/x', '/ws/x']],
);

describe('path-escape vectors (@fastify/http-proxy family) against every rule kind', () => {
  const tables: [string, Rule[]][] = [
    ['prefix', [{ path: '/pub/', target: 'ws://b/public/' }]],
    ['regex', [{ match: '^/pub/(.*)$', target: 'ws://b/public/$1' }]],
    ['rewrite', [{ rewrite: '^/pub/(.*)$', target: 'ws://b/public/$1' }]],
    ['exclusion', [{ path: '/pub/', exclude: true }]],
  ];
  const vectors = [
    '/pub/../secret',
    '/pub/%2e%2e/secret',
    '/pub/%2E%2E/secret',
    '/pub/%2E./secret',
    '/pub/.%2E/secret',
    '/pub/..%2F..%2Fsecret',
    '/pub/..%5C..%5Csecret',
    '/pub/%5c..%5csecret',
    '/pub/dir\\..\\..\\secret',
    '/pub/%/secret',
    '/pub/%zz/secret',
    '/pub/%2',
    '/pub/./x',
    '/pub/..',
  ];
  for (const [kind, rules] of tables) {
    const table = new RuleTable(rules);
    for (const vector of vectors) {
      test(`${kind}: ${vector} is 400, plain or upgrade`, () => {
        assert.equal(backendPathOf(table.route(plainRequest(vector))), 400);
        assert.equal(backendPathOf(table.route(upgradeRequest(vector))), 400);
      });
    }
  }
  const kept = new RuleTable([{ path: '/pub/', target: 'ws://b/public/' }]);
  test('a percent-encoded backslash alone is data, kept encoded', () => {
    assert.equal(backendPathOf(kept.route(plainRequest('/pub/a%5cb'))), '/public/a%5Cb');
  });
  test('dots inside a segment are not dot segments', () => {
    assert.equal(backendPathOf(kept.route(plainRequest('/pub/a..b/...'))), '/public/a..b/...');
  });
  test('a request line with a raw CR or space never reaches a backend request line', () => {
    assert.equal(backendPathOf(kept.route(plainRequest('/pub/a\r\nX: y'))), 400);
    assert.equal(backendPathOf(kept.route(plainRequest('/pub/a b'))), 400);
  });
  test('absolute-form and authority-form targets are refused', () => {
    assert.equal(backendPathOf(kept.route(plainRequest('http://evil/pub/x'))), 400);
    assert.equal(backendPathOf(kept.route(plainRequest('@evil:80/pub/x'))), 400);
  });
});

describe('shadowed rules are reported at configuration time', () => {
  const shadowed: [string, Rule[]][] = [
    [
      'a prefix under an earlier prefix',
      [
        { path: '/ws', target: 'ws://a' },
        { path: '/ws/chat', target: 'ws://b' },
      ],
    ],
    [
      'an exclusion after the rule it should carve out of',
      [
        { path: '/', target: 'http://a/' },
        { path: '/private', exclude: true },
      ],
    ],
    [
      'a WebSocket-only rule under an earlier WebSocket-only rule with the same tokens',
      [
        { path: '/ws/', target: 'ws://a/', fallbackToHttp: false },
        { path: '/ws/x/', target: 'ws://b/', fallbackToHttp: false },
      ],
    ],
    [
      'a ws:// rule after an http:// rule on the same path (the http:// rule takes upgrades as plain HTTP)',
      [
        { path: '/', target: 'http://a/' },
        { path: '/ws/', target: 'ws://b/' },
      ],
    ],
    [
      'a ProxyPassMatch after ProxyPass / (the documentation says: WebSocket URLs first)',
      [
        { path: '/', target: 'http://a/' },
        { match: '^/(myApp/ws)$', target: 'ws://a/$1' },
      ],
    ],
    [
      'a rewrite rule after a catch-all ws:// prefix',
      [
        { path: '//', target: 'ws://a//' },
        { rewrite: '^/(.*)$', target: 'ws://b/$1' },
      ],
    ],
  ];
  for (const [name, rules] of shadowed) {
    test(name, () => {
      assert.throws(
        () => new RuleTable(rules),
        (error: unknown) =>
          error instanceof WstunnelConfigError && /rule #2: .*can never match, rule #1/.test(error.message),
      );
    });
  }
  test('a regex rule after a WebSocket-only catch-all can still take plain requests', () => {
    assert.doesNotThrow(
      () =>
        new RuleTable([
          { path: '/', target: 'ws://a/', fallbackToHttp: false },
          { match: '^/x', target: 'http://a/' },
        ]),
    );
  });
  test('a WebSocket-only rule before an http:// rule on the same path is fine (recipe 2 in prefix form)', () => {
    assert.doesNotThrow(
      () =>
        new RuleTable([
          { path: '/', target: 'ws://a/', fallbackToHttp: false },
          { path: '/', target: 'http://a/' },
        ]),
    );
  });
});

describe('rewrite condition mistakes are configuration errors', () => {
  const invalid: [string, Rule][] = [
    [
      'an unknown variable',
      { rewrite: '^/', target: 'ws://b/', conditions: [{ test: '%{NOPE}', pattern: 'x' }] },
    ],
    [
      'a trailing [OR]',
      { rewrite: '^/', target: 'ws://b/', conditions: [{ test: '%{HTTP_HOST}', pattern: 'x', or: true }] },
    ],
    [
      'a file test',
      { rewrite: '^/', target: 'ws://b/', conditions: [{ test: '%{REQUEST_URI}', pattern: '-f' }] },
    ],
    [
      'conditions on a ProxyPassMatch rule',
      { match: '^/', target: 'ws://b/', conditions: [] } as unknown as Rule,
    ],
    [
      'a query mode that does not exist',
      { rewrite: '^/', target: 'ws://b/', query: 'keep' } as unknown as Rule,
    ],
  ];
  for (const [name, rule] of invalid) {
    test(name, () => {
      assert.throws(() => new RuleTable([rule]), WstunnelConfigError);
    });
  }
});
