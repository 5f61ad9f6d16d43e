// Why: an Apache site file must import as httpd reads it (order, syntax, inheritance), and fail at the exact line otherwise.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ApacheConfigError,
  createWstunnel,
  describeRules,
  fromApacheConfig,
  type Rule,
  readApacheConfig,
  WstunnelConfigError,
  type WstunnelOptions,
} from '@wstunnel/core';

const fixtures = new URL('../fixtures/', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'wstunnel-apache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function read(text: string): WstunnelOptions {
  return readApacheConfig(text, { file: 'site.conf', baseDir: dir }).options;
}

function rules(text: string): readonly Rule[] {
  return read(text).rules;
}

/** Asserts that importing `text` fails at `line` with a message matching `pattern`. */
function assertFailsAt(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => readApacheConfig(text, { file: 'site.conf', baseDir: dir }),
    (error: unknown) => {
      assert.ok(error instanceof ApacheConfigError, String(error));
      assert.ok(error instanceof WstunnelConfigError);
      assert.equal(error.code, 'ERR_WSTUNNEL_APACHE_CONFIG');
      assert.equal(error.file, 'site.conf');
      assert.equal(error.line, line, error.message);
      assert.ok(error.message.startsWith(`site.conf:${line}: `), error.message);
      assert.match(error.message, /\. Hint: \S/);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('readApacheConfig: each directive form becomes the rule Apache would evaluate', () => {
  const cases: [name: string, config: string, expected: Rule[]][] = [
    ['ProxyPass path url', 'ProxyPass /ws/ ws://b:9080/', [{ path: '/ws/', target: 'ws://b:9080/' }]],
    ['ProxyPass path !', 'ProxyPass /ws/private !', [{ path: '/ws/private', exclude: true }]],
    [
      'ProxyPass ~ regex url',
      'ProxyPass ~ ^/ws/(.*)$ ws://b/$1',
      [{ match: '^/ws/(.*)$', target: 'ws://b/$1' }],
    ],
    [
      'ProxyPassMatch regex url',
      'ProxyPassMatch ^/(a)$ ws://b/$1',
      [{ match: '^/(a)$', target: 'ws://b/$1' }],
    ],
    ['ProxyPassMatch regex !', 'ProxyPassMatch \\.png$ !', [{ match: '\\.png$', exclude: true }]],
    [
      'worker parameters (keys are case-insensitive)',
      'ProxyPass / http://b/ UPGRADE=websocket,foo Timeout=5 connectiontimeout=500ms keepalive=On max=10',
      [
        {
          path: '/',
          target: 'http://b/',
          upgrade: ['websocket', 'foo'],
          timeout: 5_000,
          idleTimeout: 60_000,
          connectTimeout: 500,
          keepAlive: 0,
          max: 10,
        },
      ],
    ],
    ['upgrade=ANY', 'ProxyPass / ws://b/ upgrade=any', [{ path: '/', target: 'ws://b/', upgrade: 'ANY' }]],
    ['upgrade=*', 'ProxyPass / ws://b/ upgrade=*', [{ path: '/', target: 'ws://b/', upgrade: 'ANY' }]],
    ['upgrade=NONE', 'ProxyPass / ws://b/ upgrade=NONE', [{ path: '/', target: 'ws://b/', upgrade: 'NONE' }]],
    ['max=0 is Apache default', 'ProxyPass / ws://b/ max=0', [{ path: '/', target: 'ws://b/' }]],
    [
      'keepalive=Off',
      'ProxyPass / ws://b/ keepalive=off',
      [{ path: '/', target: 'ws://b/', keepAlive: false }],
    ],
    [
      'connectiontimeout units (s default, ms, mi, h)',
      'ProxyPass /a/ ws://a/ connectiontimeout=2\nProxyPass /b/ ws://b/ connectiontimeout=1mi\nProxyPass /c/ ws://c/ connectiontimeout=1h',
      [
        { path: '/a/', target: 'ws://a/', connectTimeout: 2_000 },
        { path: '/b/', target: 'ws://b/', connectTimeout: 60_000 },
        { path: '/c/', target: 'ws://c/', connectTimeout: 3_600_000 },
      ],
    ],
    [
      'a timeout= at least Timeout needs no separate idle timeout',
      'ProxyPass / ws://b/ timeout=90',
      [{ path: '/', target: 'ws://b/', timeout: 90_000 }],
    ],
    [
      '<Location path> with ProxyPass and per-rule options',
      '<Location /chat/>\n  ProxyPass ws://b/chat/ upgrade=websocket\n  ProxyPreserveHost On\n  ProxyAddHeaders Off\n  ProxyWebsocketFallbackToProxyHttp Off\n</Location>',
      [
        {
          path: '/chat/',
          target: 'ws://b/chat/',
          upgrade: ['websocket'],
          preserveHost: true,
          xForwarded: false,
          fallbackToHttp: false,
        },
      ],
    ],
    [
      'ProxyPass inside <LocationMatch> is a regex rule to which httpd appends the whole path',
      '<LocationMatch "^/k/(.*)$">\nProxyPass http://b/lm/\n</LocationMatch>',
      [{ match: '^/k/(.*)$', target: 'http://b/lm/' }],
    ],
    [
      'ProxyPassMatch inside a path <Location> only applies under that path',
      '<Location /m/>\nProxyPassMatch http://b/mm\n</Location>',
      [{ match: '^/m/', target: 'http://b/mm' }],
    ],
    [
      'a ProxyPass path is written decoded, as httpd compares it',
      'ProxyPass "/c d/" http://b/sp/\nProxyPass /a%20b/ http://b/enc/',
      [
        { path: '/c%20d/', target: 'http://b/sp/' },
        { path: '/a%2520b/', target: 'http://b/enc/' },
      ],
    ],
    [
      '<LocationMatch regex> with ProxyPassMatch',
      '<LocationMatch "^/(room)/ws$">\nProxyPassMatch ws://b/$1\n</LocationMatch>',
      [{ match: '^/(room)/ws$', target: 'ws://b/$1' }],
    ],
    [
      '<Location ~ regex> with ProxyPassMatch',
      '<Location ~ "^/x">\nProxyPassMatch ws://b/\n</Location>',
      [{ match: '^/x', target: 'ws://b/' }],
    ],
    [
      '<Location> exclusion',
      '<Location /ws/admin>\nProxyPass !\n</Location>',
      [{ path: '/ws/admin', exclude: true }],
    ],
    [
      'RewriteRule [P] with conditions',
      'RewriteEngine On\nRewriteCond %{HTTP:Upgrade} =websocket [NC,OR]\nRewriteCond %{HTTP_HOST} !^internal\\.\nRewriteRule ^/(.*) ws://b/$1 [P]',
      [
        {
          rewrite: '^/(.*)',
          target: 'ws://b/$1',
          conditions: [
            { test: '%{HTTP:Upgrade}', pattern: '=websocket', nocase: true, or: true },
            { test: '%{HTTP_HOST}', pattern: '!^internal\\.' },
          ],
        },
      ],
    ],
    [
      'RewriteRule short flags',
      'RewriteEngine on\nRewriteRule ^/a ws://b/?x=1 [P,L,NC,NE,QSA]\nRewriteRule ^/b ws://b/ [END,P,QSD]',
      [
        { rewrite: '^/a', target: 'ws://b/?x=1', nocase: true, noEscape: true, query: 'append' },
        { rewrite: '^/b', target: 'ws://b/', query: 'discard' },
      ],
    ],
    [
      'RewriteRule long flags',
      'RewriteEngine on\nRewriteRule ^/a http://b/ [proxy,last,nocase,noescape,qsdiscard]\nRewriteRule ^/b http://b/ [Proxy,QSAppend,B]',
      [
        { rewrite: '^/a', target: 'http://b/', nocase: true, noEscape: true, query: 'discard' },
        { rewrite: '^/b', target: 'http://b/', query: 'append' },
      ],
    ],
    [
      'mod_rewrite arguments: quotes without escapes, backslash-space kept inside',
      'RewriteEngine on\nRewriteCond %{HTTP:X-Tag} "=a b\\"\nRewriteCond %{HTTP:X-Tag} x\\ y\nRewriteRule ^/(.*) "ws://b/$1" [P]',
      [
        {
          rewrite: '^/(.*)',
          target: 'ws://b/$1',
          conditions: [
            { test: '%{HTTP:X-Tag}', pattern: '=a b\\' },
            { test: '%{HTTP:X-Tag}', pattern: 'x\\ y' },
          ],
        },
      ],
    ],
    [
      '<Proxy url> + ProxySet define a worker that later rules under its URL share (their own parameters are ignored, AH01146)',
      '<Proxy ws://B:9080/>\n  ProxySet timeout=90 max=5\n  Require all granted\n</Proxy>\nRewriteEngine On\nRewriteRule ^/(.*) ws://b:9080/$1 [P]\nProxyPass /x/ ws://b:9080/x/ max=7\nProxyPass /y/ ws://other/ max=2',
      [
        { rewrite: '^/(.*)', target: 'ws://b:9080/$1', timeout: 90_000, max: 5 },
        { path: '/x/', target: 'ws://b:9080/x/', timeout: 90_000, max: 5 },
        { path: '/y/', target: 'ws://other/', max: 2 },
      ],
    ],
    [
      'ProxySet url key=value at server level',
      'ProxySet http://b/ upgrade=websocket\nProxyPass / http://b/',
      [{ path: '/', target: 'http://b/', upgrade: ['websocket'] }],
    ],
  ];
  for (const [name, config, expected] of cases) {
    test(name, () => {
      assert.deepStrictEqual(rules(config), expected);
    });
  }
});

describe('readApacheConfig: server-level directives become the tunnel defaults', () => {
  const cases: [name: string, config: string, expected: Omit<WstunnelOptions, 'rules'>][] = [
    [
      'On/Off settings',
      'ProxyWebsocketFallbackToProxyHttp Off\nProxyPreserveHost on\nProxyAddHeaders OFF',
      { fallbackToHttp: false, preserveHost: true, xForwarded: false },
    ],
    [
      'ProxyTimeout, with Apache idle timeout max(Timeout, ProxyTimeout)',
      'ProxyTimeout 30',
      { timeout: 30_000, idleTimeout: 60_000 },
    ],
    ['Timeout alone is the default ProxyTimeout', 'Timeout 30', { timeout: 30_000 }],
    ['ProxyTimeout over Timeout', 'Timeout 10\nProxyTimeout 5', { timeout: 5_000, idleTimeout: 10_000 }],
    ['ProxyTimeout above Timeout', 'Timeout 10\nProxyTimeout 50', { timeout: 50_000 }],
    ['SSLProxyVerify none', 'SSLProxyEngine On\nSSLProxyVerify none', { tls: { rejectUnauthorized: false } }],
    [
      'SSLProxyVerify require',
      'SSLProxyEngine On\nSSLProxyVerify require',
      { tls: { rejectUnauthorized: true } },
    ],
    [
      'peer checks Off are accepted once nothing is verified',
      'SSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerCN Off\nSSLProxyCheckPeerExpire Off',
      { tls: { rejectUnauthorized: false } },
    ],
    ['peer checks On change nothing', 'SSLProxyCheckPeerName On\nSSLProxyCheckPeerExpire On', {}],
  ];
  for (const [name, config, expected] of cases) {
    test(name, () => {
      assert.deepStrictEqual(read(config), { rules: [], ...expected });
    });
  }

  test('a rule timeout below Timeout idles for Timeout (the larger of the two, as Apache since 2.4.53)', () => {
    assert.deepStrictEqual(
      rules('Timeout 10\nProxyTimeout 5\nProxyPass /a/ ws://a/ timeout=3\nProxyPass /b/ ws://b/ timeout=20'),
      [
        { path: '/a/', target: 'ws://a/', timeout: 3_000, idleTimeout: 10_000 },
        { path: '/b/', target: 'ws://b/', timeout: 20_000, idleTimeout: 20_000 },
      ],
    );
  });

  test('SSLProxyCACertificateFile is read relative to baseDir', () => {
    writeFileSync(join(dir, 'ca.pem'), readFileSync(new URL('ca.pem', fixtures)));
    const options = read('SSLProxyEngine On\nSSLProxyCACertificateFile ca.pem\nProxyPass /s/ wss://b/');
    assert.equal(options.tls?.ca, readFileSync(new URL('ca.pem', fixtures), 'utf8').trim());
  });

  test('SSLProxyMachineCertificateFile holds the client certificate and its key', () => {
    const cert = readFileSync(new URL('client.pem', fixtures), 'utf8').trim();
    const key = readFileSync(new URL('client.key', fixtures), 'utf8').trim();
    writeFileSync(join(dir, 'client-both.pem'), `${cert}\n${key}\n`);
    const options = read(`SSLProxyMachineCertificateFile ${join(dir, 'client-both.pem')}`);
    assert.deepStrictEqual(options.tls, { cert, key });
  });
});

describe('readApacheConfig: the three recipes of the mod_proxy_wstunnel manual', () => {
  const recipe1 = `ProxyPass "/ws2/"  "ws://echo.websocket.org/"
ProxyPass "/wss2/" "wss://echo.websocket.org/"`;
  const recipe2 = `ProxyPassMatch ^/(myApp/ws)$  ws://backend.example.com:9080/$1
ProxyPass / http://backend.example.com:9080/`;
  const recipe3 = `ProxyPass / http://example.com:9080/
RewriteEngine on
RewriteCond %{HTTP:Upgrade} websocket [NC]
RewriteCond %{HTTP:Connection} upgrade [NC]
RewriteRule ^/?(.*) "ws://example.com:9080/$1" [P,L]`;
  const rewriteRule: Rule = {
    rewrite: '^/?(.*)',
    target: 'ws://example.com:9080/$1',
    conditions: [
      { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
      { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
    ],
  };

  test('recipe 1 as printed: the wss:// line needs SSLProxyEngine On, as it does in httpd', () => {
    assertFailsAt(recipe1, 2, /SSLProxyEngine/);
  });

  test('recipe 1 with SSLProxyEngine On: two prefix rules in order', () => {
    assert.deepStrictEqual(rules(`SSLProxyEngine On\n${recipe1}`), [
      { path: '/ws2/', target: 'ws://echo.websocket.org/' },
      { path: '/wss2/', target: 'wss://echo.websocket.org/' },
    ]);
  });

  test('recipe 2: the WebSocket-only ProxyPassMatch before the HTTP ProxyPass', () => {
    assert.deepStrictEqual(rules(recipe2), [
      { match: '^/(myApp/ws)$', target: 'ws://backend.example.com:9080/$1' },
      { path: '/', target: 'http://backend.example.com:9080/' },
    ]);
  });

  test('recipe 3: the RewriteRule [P] comes first although ProxyPass is written first', () => {
    const imported = readApacheConfig(recipe3, { file: 'site.conf' });
    assert.deepStrictEqual(imported.options.rules, [
      rewriteRule,
      { path: '/', target: 'http://example.com:9080/' },
    ]);
    assert.deepStrictEqual(imported.ruleLines, [5, 1]);
  });

  test('all three in one file: rewrite rules, then ProxyPassMatch and ProxyPass in order', () => {
    const all = `SSLProxyEngine On\n${recipe1}\n${recipe2}\n${recipe3}`.replace(
      /\nProxyPass \/ http:\/\/example.*\n/,
      '\n',
    );
    assert.deepStrictEqual(rules(all), [
      rewriteRule,
      { path: '/ws2/', target: 'ws://echo.websocket.org/' },
      { path: '/wss2/', target: 'wss://echo.websocket.org/' },
      { match: '^/(myApp/ws)$', target: 'ws://backend.example.com:9080/$1' },
      { path: '/', target: 'http://backend.example.com:9080/' },
    ]);
  });

  test('the imported recipes build a tunnel', async () => {
    const tunnel = createWstunnel(fromApacheConfig(`${recipe2}\n${recipe3.replace(/^ProxyPass .*\n/, '')}`));
    assert.equal(tunnel.rules.rules.length, 3);
    await tunnel.close();
  });
});

describe('readApacheConfig: httpd file syntax', () => {
  test('a backslash at the end of a line continues the directive; line numbers stay right', () => {
    const imported = readApacheConfig(
      'ProxyPass /a/ \\\n    ws://b/ \\\n  timeout=90\nProxyPass /c/ ws://c/',
      { file: 'x' },
    );
    assert.deepStrictEqual(imported.options.rules, [
      { path: '/a/', target: 'ws://b/', timeout: 90_000 },
      { path: '/c/', target: 'ws://c/' },
    ]);
    assert.deepStrictEqual(imported.ruleLines, [1, 4]);
  });

  test('an escaped backslash at the end of a line does not continue it', () => {
    assert.deepStrictEqual(rules('ProxyPassMatch ^/a\\\\\\\\ ws://b/\nProxyPass /c/ ws://c/'), [
      { match: '^/a\\\\', target: 'ws://b/' },
      { path: '/c/', target: 'ws://c/' },
    ]);
  });

  test('# starts a comment only at the beginning of a line; a comment ending in \\ swallows the next line (as httpd)', () => {
    assert.deepStrictEqual(
      rules(
        '# a comment\n   # indented comment\nRewriteEngine On\nRewriteCond %{HTTP:X-Tag} #1\nRewriteRule ^/(.*) ws://b/$1 [P]\n# ProxyPass /x/ \\\nProxyPass /hidden/ ws://h/',
      ),
      [{ rewrite: '^/(.*)', target: 'ws://b/$1', conditions: [{ test: '%{HTTP:X-Tag}', pattern: '#1' }] }],
    );
  });

  test('double and single quotes, escapes inside them, CRLF line endings and a BOM', () => {
    assert.deepStrictEqual(
      rules("\uFEFFProxyPassMatch \"^/a\\\"b c$\" 'ws://b/'\r\nProxyPass '/it\\'s/' ws://c/\r\n"),
      [
        { match: '^/a"b c$', target: 'ws://b/' },
        { path: "/it's/", target: 'ws://c/' },
      ],
    );
  });

  test('directive and section names are case-insensitive', () => {
    assert.deepStrictEqual(
      rules(
        'proxypass /a/ ws://b/\nPROXYPASSMATCH ^/b ws://b/\n<location /c/>\nproxyPass ws://c/\n</LOCATION>\nrewriteengine ON\nREWRITERULE ^/d ws://d/ [p]',
      ),
      [
        { rewrite: '^/d', target: 'ws://d/' },
        { path: '/c/', target: 'ws://c/' },
        { path: '/a/', target: 'ws://b/' },
        { match: '^/b', target: 'ws://b/' },
      ],
    );
  });

  test('<IfModule mod> is read and <IfModule !mod> is skipped (and noted)', () => {
    const imported = readApacheConfig(
      '<IfModule mod_proxy_wstunnel.c>\n  ProxyPass /a/ ws://a/\n  <IfModule !mod_rewrite.c>\n    ProxyPass /b/ ws://b/\n  </IfModule>\n</IfModule>',
      { file: 'site.conf' },
    );
    assert.deepStrictEqual(imported.options.rules, [{ path: '/a/', target: 'ws://a/' }]);
    assert.deepStrictEqual(
      imported.ignored.map(({ line, directive }) => [line, directive]),
      [[3, '<IfModule !mod_rewrite.c>']],
    );
  });

  test('one <VirtualHost> is the server; main-server ProxyPass and settings are inherited, its own win', () => {
    const options = read(
      'ProxyPass /main/ ws://m/\nProxyPreserveHost On\nProxyTimeout 30\n<VirtualHost *:80>\n  ServerName example.com\n  ProxyTimeout 90\n  ProxyPass /v/ ws://v/\n  RewriteEngine On\n  RewriteRule ^/r ws://r/ [P]\n</VirtualHost>',
    );
    assert.deepStrictEqual(options, {
      rules: [
        { rewrite: '^/r', target: 'ws://r/' },
        { path: '/main/', target: 'ws://m/' },
        { path: '/v/', target: 'ws://v/' },
      ],
      preserveHost: true,
      timeout: 90_000,
    });
  });

  test('<Location> rules come before server ProxyPass, the last declared first; rewrite rules before all', () => {
    const imported = readApacheConfig(
      [
        'ProxyPass /srv/ ws://srv/',
        '<Location /a/>',
        '  ProxyPass ws://a/',
        '</Location>',
        '<Location /a/b/>',
        '  ProxyPass ws://ab/',
        '</Location>',
        '<Location /plain/>',
        '  Require all granted',
        '</Location>',
        'RewriteEngine On',
        'RewriteRule ^/r ws://r/ [P]',
      ].join('\n'),
      { file: 'site.conf' },
    );
    assert.deepStrictEqual(imported.options.rules, [
      { rewrite: '^/r', target: 'ws://r/' },
      { path: '/a/b/', target: 'ws://ab/' },
      { path: '/a/', target: 'ws://a/' },
      { path: '/srv/', target: 'ws://srv/' },
    ]);
    assert.deepStrictEqual(imported.ruleLines, [12, 6, 3, 1]);
  });

  test('RewriteRules are ignored, with a note, unless RewriteEngine is On; its position does not matter', () => {
    const off = readApacheConfig('RewriteRule ^/r ws://r/ [P]\nProxyPass / ws://b/', { file: 'site.conf' });
    assert.deepStrictEqual(off.options.rules, [{ path: '/', target: 'ws://b/' }]);
    assert.deepStrictEqual(off.ignored, [
      {
        file: 'site.conf',
        line: 1,
        directive: 'RewriteRule ^/r ws://r/ [P]',
        reason: 'RewriteEngine is not On for this server, so httpd ignores the rule',
      },
    ]);
    assert.deepStrictEqual(rules('RewriteRule ^/r ws://r/ [P]\nRewriteEngine On'), [
      { rewrite: '^/r', target: 'ws://r/' },
    ]);
    assert.deepStrictEqual(rules('RewriteEngine On\nRewriteRule ^/r ws://r/ [P]\nRewriteEngine Off'), []);
    // httpd 2.4.71: a virtual host without its own RewriteEngine inherits the main server's On.
    assert.deepStrictEqual(
      rules('RewriteEngine On\n<VirtualHost *:80>\nRewriteRule ^/r ws://r/ [P]\n</VirtualHost>'),
      [{ rewrite: '^/r', target: 'ws://r/' }],
    );
    assert.deepStrictEqual(
      rules(
        'RewriteEngine On\n<VirtualHost *:80>\nRewriteEngine Off\nRewriteRule ^/r ws://r/ [P]\n</VirtualHost>',
      ),
      [],
    );
  });

  test('front-end TLS, redirects, Protocols and allow-all access control are noted: they belong in front of wstunnel', () => {
    const imported = readApacheConfig(
      [
        'SSLEngine on',
        'SSLCertificateFile /etc/ssl/site.pem',
        'Protocols h2 http/1.1',
        'Redirect permanent /old https://example.com/new',
        'Order allow,deny',
        'Allow from all',
        'ProxyVia On',
        'AllowEncodedSlashes NoDecode',
        'ProxyPass / ws://b/',
      ].join('\n'),
      { file: 'site.conf' },
    );
    assert.deepStrictEqual(imported.options.rules, [{ path: '/', target: 'ws://b/' }]);
    assert.deepStrictEqual(
      imported.ignored.map(({ line }) => line),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.match(imported.ignored[0]!.reason, /terminate TLS in front/);
  });

  test('directives that change nothing are listed with their line and reason, never dropped silently', () => {
    const imported = readApacheConfig(
      [
        'LoadModule proxy_module modules/mod_proxy.so',
        '<VirtualHost *:80>',
        '  ServerName example.com',
        `  ErrorLog \${APACHE_LOG_DIR}/error.log`,
        '  ProxyRequests Off',
        '  ProxyPass / ws://b/ retry=0 disablereuse=On',
        '  RewriteEngine On',
        '  RewriteCond %{HTTP:Upgrade} websocket [NC,NV]',
        '  RewriteRule ^/(.*) ws://b/$1 [P,B]',
        '</VirtualHost>',
      ].join('\n'),
      { file: 'site.conf' },
    );
    assert.deepStrictEqual(
      imported.ignored.map(({ file, line, directive }) => `${file}:${line} ${directive}`),
      [
        'site.conf:1 LoadModule proxy_module modules/mod_proxy.so',
        'site.conf:2 <VirtualHost *:80>',
        'site.conf:3 ServerName example.com',
        `site.conf:4 ErrorLog \${APACHE_LOG_DIR}/error.log`,
        'site.conf:5 ProxyRequests Off',
        'site.conf:6 ProxyPass retry=0',
        'site.conf:6 ProxyPass disablereuse=On',
        'site.conf:8 RewriteCond %{HTTP:Upgrade} websocket [NC,NV]',
        'site.conf:9 RewriteRule ^/(.*) ws://b/$1 [P,B]',
      ],
    );
    for (const { reason } of imported.ignored) assert.ok(reason.length > 10, reason);
  });

  test('fromApacheConfig returns the options alone; the default file name is <config>', () => {
    assert.deepStrictEqual(fromApacheConfig('ProxyPass / ws://b/'), {
      rules: [{ path: '/', target: 'ws://b/' }],
    });
    assert.throws(
      () => fromApacheConfig('Bogus'),
      /^ApacheConfigError: <config>:1: unknown directive "Bogus"/,
    );
  });
});

describe('readApacheConfig: what cannot be imported fails at its line', () => {
  const cases: [name: string, config: string, line: number, message: RegExp][] = [
    [
      'unknown directive on line 7',
      'ProxyPass /a/ ws://a/\n\n# comment\n\nProxyPass /b/ ws://b/\n\nFrobnicate on',
      7,
      /unknown directive "Frobnicate"/,
    ],
    [
      'RewriteCond without a RewriteRule',
      'RewriteEngine On\nRewriteCond %{HTTP:Upgrade} websocket [NC]\nProxyPass / ws://b/',
      2,
      /RewriteCond is not followed by a RewriteRule/,
    ],
    [
      'RewriteRule without [P] (CVE-2024-39573)',
      'RewriteEngine On\nRewriteRule ^/old /new [L]',
      2,
      /only proxy rules \(\[P\]\) are supported: a rewrite that is not marked proxy is never proxied/,
    ],
    ['RewriteRule without flags', 'RewriteEngine On\nRewriteRule ^/(.*) ws://b/$1', 2, /only proxy rules/],
    [
      'balancer:// target with no BalancerMember',
      'ProxyPass / balancer://cluster/',
      1,
      /balancer:\/\/cluster has no BalancerMember: httpd answers 503/,
    ],
    [
      'BalancerMember URL with a trailing slash',
      '<Proxy balancer://c>\nBalancerMember ws://a/\n</Proxy>',
      2,
      /BalancerMember ws:\/\/a\/: remove the trailing "\/"/,
    ],
    [
      'BalancerMember outside <Proxy> without the balancer name',
      '\nBalancerMember ws://a',
      2,
      /BalancerMember must name the balancer \(outside <Proxy>\) and the backend URL/,
    ],
    [
      'balancer member parameter on a single backend',
      'ProxyPass / ws://a/ loadfactor=2',
      1,
      /loadfactor= is a BalancerMember parameter: it means nothing on a single backend/,
    ],
    [
      'bad timeout= (no unit in httpd)',
      'ProxyPass / ws://a/ timeout=5ms',
      1,
      /timeout= must be a whole number of seconds/,
    ],
    ['bad ProxyTimeout', '\nProxyTimeout soon', 2, /ProxyTimeout must be a whole number of seconds/],
    [
      'bad connectiontimeout=',
      'ProxyPass / ws://a/ connectiontimeout=5x',
      1,
      /connectiontimeout= must be a whole number with an optional unit/,
    ],
    ['unterminated quote', 'ProxyPass /a/ ws://a/\nProxyPass "/b/ ws://b/', 2, /unterminated " quote/],
    [
      'unclosed <Location>',
      'ProxyPass /a/ ws://a/\n<Location /b/>\nProxyPass ws://b/',
      2,
      /<Location> was not closed/,
    ],
    [
      'stray </Location>',
      'ProxyPass /a/ ws://a/\n</Location>',
      2,
      /<\/Location> without matching <Location> section/,
    ],
    [
      'mismatched closing tag',
      '<IfModule mod_proxy.c>\n<Location /a/>\n</IfModule>\n</Location>',
      3,
      /expected <\/Location> but saw <\/IfModule>/,
    ],
    [
      'upgrade= of 16 characters',
      'ProxyPass / ws://a/ upgrade=websocket,foobar',
      1,
      /upgrade protocol length must be < 16 characters/,
    ],
    [
      'QSA with QSD',
      'RewriteEngine On\nRewriteRule ^/(.*) ws://b/$1 [P,QSA,QSD]',
      2,
      /\[QSA\] and \[QSD\] together/,
    ],
    [
      'wss:// target without SSLProxyEngine',
      'ProxyPass /a/ ws://a/\nProxyPass /s/ wss://s/',
      2,
      /SSLProxyEngine is not On/,
    ],
    [
      'https:// rewrite target with SSLProxyEngine Off',
      'SSLProxyEngine Off\nRewriteEngine On\nRewriteRule ^/(.*) https://b/$1 [P]',
      3,
      /SSLProxyEngine is not On/,
    ],
    [
      'unreadable CA file',
      'SSLProxyEngine On\nSSLProxyCACertificateFile missing-ca.pem',
      2,
      /SSLProxyCACertificateFile missing-ca\.pem: cannot read .*missing-ca\.pem: ENOENT/,
    ],
    [
      'two <VirtualHost> that both proxy',
      '<VirtualHost *:80>\nProxyPass / ws://a/\n</VirtualHost>\n<VirtualHost *:81>\nProxyPass / ws://b/\n</VirtualHost>',
      4,
      /routing by virtual host is not supported/,
    ],
    ['<Directory>', '<Directory /var/www>\n</Directory>', 1, /<Directory> sections are not supported/],
    [
      'RewriteRule inside <Location>',
      '<Location /a/>\nRewriteEngine On\n</Location>',
      2,
      /per-directory rewriting is not supported/,
    ],
    [
      'ProxyTimeout inside <Location> (httpd: not allowed in <Location> context)',
      '<Location /a/>\nProxyTimeout 120\nProxyPass ws://b/\n</Location>',
      2,
      /ProxyTimeout not allowed in <Location>/,
    ],
    [
      'two ProxyPass in one <Location>',
      '<Location /a/>\nProxyPass ws://a/\nProxyPass ws://b/\n</Location>',
      3,
      /a second ProxyPass/,
    ],
    [
      'ProxyPass with a path inside <Location>',
      '<Location /a/>\nProxyPass /a/ ws://a/\n</Location>',
      2,
      /can not have a path when defined in a location/,
    ],
    ['ProxyPass without URL', 'ProxyPass /a/', 1, /needs a path when not defined in a location/],
    [
      'option in a <Location> without ProxyPass',
      '<Location /a/>\nProxyPreserveHost On\n</Location>',
      2,
      /reaches no ProxyPass/,
    ],
    [
      'wildcard <Location>',
      '<Location /a/*>\nProxyPass ws://a/\n</Location>',
      1,
      /wildcard paths are not supported/,
    ],
    ['nocanon', 'ProxyPass / ws://a/ nocanon', 1, /ProxyPass nocanon is not supported/],
    ['noquery', 'ProxyPass / ws://a/ noquery', 1, /ProxyPass noquery is not supported/],
    [
      'unknown worker parameter lists the known ones',
      'ProxyPass / ws://a/ colour=blue',
      1,
      /unknown ProxyPass parameter "colour"\. Hint: known keys: upgrade, timeout/,
    ],
    [
      'unix: target',
      'ProxyPass / unix:/run/app.sock|ws://localhost/',
      1,
      /unix: \(Unix domain socket\) backends are not supported/,
    ],
    ['ajp:// target', 'ProxyPass / ajp://a/', 1, /must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/],
    ['ProxyRequests On', 'ProxyRequests On', 1, /ProxyRequests On is not supported/],
    ['On/Off value', 'ProxyPreserveHost yes', 1, /ProxyPreserveHost must be On or Off/],
    ['argument count', 'ProxyPreserveHost On Off', 1, /ProxyPreserveHost takes one argument, found 2/],
    [
      'file test in RewriteCond',
      'RewriteEngine On\nRewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^ ws://b/ [P]',
      2,
      /file, sub-request and integer tests are not supported/,
    ],
    [
      'integer test in RewriteCond',
      'RewriteEngine On\nRewriteCond %{REMOTE_PORT} -lt1024\nRewriteRule ^ ws://b/ [P]',
      2,
      /integer tests are not supported/,
    ],
    [
      'unknown RewriteCond flag',
      'RewriteEngine On\nRewriteCond %{HTTP_HOST} x [NX]\nRewriteRule ^ ws://b/ [P]',
      2,
      /RewriteCond: unknown flag "nx"/,
    ],
    [
      '[P] and [R] together',
      'RewriteEngine On\nRewriteRule ^ ws://b/ [P,R=301]',
      2,
      /\[P\] and \[R\] together/,
    ],
    [
      'unsupported RewriteRule flag',
      'RewriteEngine On\nRewriteRule ^ ws://b/ [P,CO=a:b:c]',
      2,
      /flag \[co=a:b:c\] is not supported/,
    ],
    [
      'a redirect in the server wstunnel runs',
      'ProxyPass / ws://b/\nRewriteEngine On\nRewriteRule ^/old https://x/new [R=301,L]',
      3,
      /RewriteRule redirect \(\[R\]\) in the server wstunnel runs/,
    ],
    ['BNP', 'RewriteEngine On\nRewriteRule ^(.*) ws://b/$1 [P,BNP]', 2, /\[BNP\] is not supported/],
    ['RewriteMap', 'RewriteMap m txt:/x', 1, /RewriteMap is not supported/],
    ['RewriteBase', 'RewriteBase /', 1, /RewriteBase is not supported/],
    ['RewriteLog', 'RewriteLog /var/log/rewrite.log', 1, /removed in httpd 2\.4/],
    [
      'relative substitution with [P]',
      'RewriteEngine On\nRewriteRule ^/a /b [P]',
      2,
      /must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/,
    ],
    ['bad flag delimiters', 'RewriteEngine On\nRewriteRule ^ ws://b/ P', 2, /bad flag delimiters/],
    ['Include', 'Include conf.d/*.conf', 1, /Include is not supported/],
    [
      'a Define variable in a translated directive',
      `ProxyPass / ws://\${BACKEND}/`,
      1,
      /\$\{BACKEND\} \(Define or environment variable\) is not supported/,
    ],
    [
      'RequestHeader',
      'RequestHeader set X-Forwarded-Proto https',
      1,
      /RequestHeader \(request header editing\) is not supported/,
    ],
    ['httpd 2.2 access control other than allow-all', 'Order deny,allow\nDeny from all', 2, /access control/],
    [
      'SSLProxyCheckPeerName Off while verifying',
      'SSLProxyEngine On\nSSLProxyCheckPeerName Off',
      2,
      /SSLProxyCheckPeerName Off cannot be honoured/,
    ],
    ['SSLProxyVerify optional', 'SSLProxyVerify optional', 1, /SSLProxyVerify optional is not supported/],
    [
      'access control',
      '<Location /a/>\nRequire ip 10.0.0.0/8\nProxyPass ws://a/\n</Location>',
      2,
      /access control is not supported/,
    ],
    [
      'RewriteRule outside the <VirtualHost>',
      'RewriteEngine On\nRewriteRule ^ ws://b/ [P]\n<VirtualHost *:80>\n</VirtualHost>',
      2,
      /outside the <VirtualHost>/,
    ],
    [
      'text after the > of a section',
      '<Location /a/> # the chat\nProxyPass ws://a/\n</Location>',
      1,
      /text after '>' in <Location\.\.\.>: "# the chat"/,
    ],
    [
      'missing > of a section',
      '<Location /a/\nProxyPass ws://a/\n</Location>',
      1,
      /<Location> directive missing closing '>'/,
    ],
  ];
  cases.push([
    'a directive named like an Object property',
    'constructor x\n__proto__ y',
    1,
    /unknown directive "constructor"/,
  ]);
  for (const [name, config, line, message] of cases) {
    test(name, () => assertFailsAt(config, line, message));
  }

  test('an unreadable machine certificate and a key-less one name their line', () => {
    writeFileSync(join(dir, 'cert-only.pem'), readFileSync(new URL('client.pem', fixtures)));
    assertFailsAt(
      '\n\nSSLProxyMachineCertificateFile cert-only.pem',
      3,
      /one client certificate and its unencrypted private key/,
    );
  });

  test('ApacheConfigError is recognised by instanceof, other configuration errors are not ApacheConfigErrors', () => {
    assert.equal(
      new WstunnelConfigError('ERR_WSTUNNEL_INVALID_RULE', 'x') instanceof ApacheConfigError,
      false,
    );
  });
});

describe('describeRules', () => {
  test('renders the imported recipes in Apache syntax, numbered in match order, then the defaults', () => {
    const options = fromApacheConfig(
      'ProxyPass /static/ !\nProxyPassMatch ^/(myApp/ws)$ ws://b:9080/$1\nProxyPass / http://b:9080/ upgrade=websocket timeout=90\nRewriteEngine on\nRewriteCond %{HTTP:Upgrade} websocket [NC]\nRewriteRule ^/?(.*) "ws://b:9080/$1" [P,L]',
    );
    assert.deepStrictEqual(describeRules(options), [
      '1. RewriteCond %{HTTP:Upgrade} websocket [NC]',
      '   RewriteRule ^/?(.*) ws://b:9080/$1 [P,L]',
      '2. ProxyPass /static/ !',
      '3. ProxyPassMatch ^/(myApp/ws)$ ws://b:9080/$1',
      '4. ProxyPass / http://b:9080/ upgrade=websocket timeout=90',
      'Defaults for every rule that does not set its own:',
      '   ProxyPreserveHost Off',
      '   ProxyAddHeaders On',
      '   ProxyWebsocketFallbackToProxyHttp On',
      '   ProxyTimeout 60',
      "   SSLProxyVerify require (CA: Node's bundled roots)",
    ]);
  });

  test('hand-built rules: RegExp as /source/flags, URL targets, quoting, wstunnel-only options', () => {
    assert.deepStrictEqual(
      describeRules({
        rules: [
          { match: /^\/chat$/i, target: new URL('ws://b/chat'), upgrade: 'ANY', fallbackToHttp: false },
          { path: '/a b/', exclude: true },
          {
            rewrite: '^/(.*)',
            target: 'http://b/$1',
            query: 'append',
            conditions: [{ test: '%{HTTP_HOST}', pattern: /^x$/, or: true }],
          },
          {
            path: '/',
            target: 'ws://b/',
            connectTimeout: 1500,
            keepAlive: false,
            max: 3,
            idleTimeout: 0,
            tls: { rejectUnauthorized: false },
          },
        ],
        preserveHost: true,
        xForwarded: false,
        timeout: 5_000,
        halfClose: false,
        tls: { ca: 'PEM' },
      }),
      [
        '1. ProxyPassMatch /^\\/chat$/i ws://b/chat upgrade=ANY fallbackToHttp=off',
        '2. ProxyPass "/a b/" !',
        '3. RewriteCond %{HTTP_HOST} /^x$/ [OR]',
        '   RewriteRule ^/(.*) http://b/$1 [P,L,QSA]',
        '4. ProxyPass / ws://b/ connectiontimeout=1500ms keepalive=Off max=3 idleTimeout=0s tls.rejectUnauthorized=false',
        'Defaults for every rule that does not set its own:',
        '   ProxyPreserveHost On',
        '   ProxyAddHeaders Off',
        '   ProxyWebsocketFallbackToProxyHttp On',
        '   ProxyTimeout 5',
        '   SSLProxyVerify require (CA: given)',
        '   halfClose=off',
      ],
    );
  });

  test('an empty table says so', () => {
    assert.equal(describeRules({ rules: [] })[0], '(no rules)');
  });
});

describe('readApacheConfig: several <VirtualHost>', () => {
  test('an http-to-https redirect server next to the proxying one is noted and left to the server in front', () => {
    const imported = readApacheConfig(
      [
        '<VirtualHost *:80>',
        '  ServerName example.com',
        '  RewriteEngine On',
        '  RewriteRule ^ https://example.com%{REQUEST_URI} [R=301,L]',
        '  Redirect permanent / https://example.com/',
        '</VirtualHost>',
        '<VirtualHost *:443>',
        '  SSLEngine on',
        '  ProxyPass /ws/ ws://127.0.0.1:9000/',
        '</VirtualHost>',
      ].join('\n'),
      { file: 'site.conf' },
    );
    assert.deepStrictEqual(imported.options.rules, [{ path: '/ws/', target: 'ws://127.0.0.1:9000/' }]);
    const notes = imported.ignored.map(({ line, reason }) => `${line}: ${reason.slice(0, 20)}`);
    assert.ok(notes.includes('1: it holds no proxy ru'), JSON.stringify(notes));
    assert.ok(notes.includes('7: its directives are t'), JSON.stringify(notes));
  });
});

test('every problem in a file is reported at once, in line order, not one per run', () => {
  const text = [
    'SSLEngine on',
    'Header always set Strict-Transport-Security "max-age=63072000"',
    'ProxyPass /a/ ws://b/',
    'RequestHeader set X-Forwarded-Proto https',
    'FooBar 1',
  ].join('\n');
  assert.throws(
    () => readApacheConfig(text, { file: 'site.conf' }),
    (error: unknown) =>
      error instanceof ApacheConfigError &&
      error.line === 2 &&
      error.others.map(({ line }) => line).join() === '4,5' &&
      error.message.split('\n').length === 3 &&
      /^site\.conf:4: RequestHeader/m.test(error.message),
  );
});
