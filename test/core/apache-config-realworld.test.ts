// Why: Apache site files that users publish for WebSocket apps must import as written, into the rule table httpd would evaluate.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Rule, readApacheConfig } from '@wstunnel/core';

const cases: [app: string, source: string, config: string, rules: Rule[], preserveHost?: boolean][] = [
  [
    'Nextcloud notify_push',
    'https://github.com/nextcloud/notify_push/blob/main/README.md',
    `ProxyPass /push/ws ws://127.0.0.1:7867/ws
ProxyPass /push/ http://127.0.0.1:7867/
ProxyPassReverse /push/ http://127.0.0.1:7867/
`,
    [
      { path: '/push/ws', target: 'ws://127.0.0.1:7867/ws' },
      { path: '/push/', target: 'http://127.0.0.1:7867/' },
    ],
  ],
  [
    'Uptime Kuma (without SSL)',
    'https://github.com/louislam/uptime-kuma-wiki/blob/master/Webserver-Reverse-Proxy.md',
    `<VirtualHost *:80>
  ServerName sub.domain.com

  ProxyPass / http://localhost:3001/
  RewriteEngine on
  RewriteCond %{HTTP:Upgrade} websocket [NC]
  RewriteCond %{HTTP:Connection} upgrade [NC]
  RewriteRule ^/?(.*) "ws://localhost:3001/$1" [P,L]
</VirtualHost>
`,
    [
      {
        rewrite: '^/?(.*)',
        target: 'ws://localhost:3001/$1',
        conditions: [
          { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
          { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
        ],
      },
      { path: '/', target: 'http://localhost:3001/' },
    ],
  ],
  [
    'Vaultwarden (httpd < 2.4.47 recipe)',
    'https://github.com/dani-garcia/vaultwarden/discussions/3598',
    `ProxyPass / http://localhost:8888/
RewriteEngine on
RewriteCond %{HTTP:Upgrade} websocket [NC]
RewriteCond %{HTTP:Connection} upgrade [NC]
RewriteRule ^/?(.*) "ws://localhost:8888/$1" [P,L]
`,
    [
      {
        rewrite: '^/?(.*)',
        target: 'ws://localhost:8888/$1',
        conditions: [
          { test: '%{HTTP:Upgrade}', pattern: 'websocket', nocase: true },
          { test: '%{HTTP:Connection}', pattern: 'upgrade', nocase: true },
        ],
      },
      { path: '/', target: 'http://localhost:8888/' },
    ],
  ],
  [
    'Sandstorm',
    'https://github.com/sandstorm-io/sandstorm/blob/docs-give-sample-code-for-handle/docs/administering/sample-config/apache-virtualhost.conf',
    `<VirtualHost *:80>
# Use this VirtualHost for example.com and wildcards.
ServerName example.com
ServerAlias *.example.com
RewriteEngine On
RewriteCond %{HTTP:Upgrade} =websocket
RewriteRule /(.*) ws://localhost:6080/$1 [P,L]
RewriteCond %{HTTP:Upgrade} !=websocket
RewriteRule /(.*) http://localhost:6080/$1 [P,L]
# By default, send all requests to Sandstorm over http://
ProxyPass / http://localhost:6080/
ProxyPreserveHost On
</VirtualHost>
`,
    [
      {
        rewrite: '/(.*)',
        target: 'ws://localhost:6080/$1',
        conditions: [{ test: '%{HTTP:Upgrade}', pattern: '=websocket' }],
      },
      {
        rewrite: '/(.*)',
        target: 'http://localhost:6080/$1',
        conditions: [{ test: '%{HTTP:Upgrade}', pattern: '!=websocket' }],
      },
      { path: '/', target: 'http://localhost:6080/' },
    ],
    true,
  ],
  [
    'JupyterHub under /jhub/ (rewrite amendments without RewriteEngine On are inert, as in httpd)',
    'https://github.com/jupyterhub/jupyterhub/blob/main/docs/source/howto/configuration/config-proxy.md',
    ` RewriteRule /jhub/(.*) ws://127.0.0.1:8000/jhub/$1 [P,L]
 RewriteRule /jhub/(.*) http://127.0.0.1:8000/jhub/$1 [P,L]

 ProxyPass /jhub/ http://127.0.0.1:8000/jhub/
 ProxyPassReverse /jhub/  http://127.0.0.1:8000/jhub/
`,
    [{ path: '/jhub/', target: 'http://127.0.0.1:8000/jhub/' }],
  ],
];

describe('real-world Apache WebSocket sites import as httpd evaluates them', () => {
  for (const [app, source, config, expected, preserveHost] of cases) {
    test(`${app} (${source})`, () => {
      const { options } = readApacheConfig(config, { file: 'site.conf' });
      assert.deepEqual(options.rules, expected);
      assert.equal(options.preserveHost, preserveHost);
    });
  }
});
