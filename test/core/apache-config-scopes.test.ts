// Why: the Apache importer checked against Apache httpd 2.4.71 (Debian), run on loopback with the same site file and
// the same raw requests: where a setting is written (main server, <VirtualHost>, <Location>) decides which requests
// it reaches in httpd. Each case below was observed on Apache 2.4.71; the comment gives the config and result.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ApacheConfigError,
  fromApacheConfig,
  type RouteDecision,
  RuleTable,
  readApacheConfig,
  type WstunnelOptions,
} from '@wstunnel/core';
import { backendPathOf, plainRequest, upgradeRequest } from '../helpers/requests.ts';

function table(options: WstunnelOptions): RuleTable {
  const { rules, ...defaults } = options;
  return new RuleTable(rules, defaults as never);
}

function targetOf(decision: RouteDecision): { preserveHost: boolean; xForwarded: boolean; hostname: string } {
  assert.ok(
    decision.kind === 'tunnel' || decision.kind === 'http',
    `expected a proxied request, got ${decision.kind}`,
  );
  return decision.target as never;
}

describe('scopes and inheritance', () => {
  // Apache: `RewriteEngine On` in the main server, the RewriteRule in the <VirtualHost> (no RewriteEngine there):
  // GET /r/x is proxied by the rule to B2 `GET /r/x` (mod_rewrite merges `state` when the vhost does not set it).
  // wstunnel drops the rule with the note "RewriteEngine is not On in this server (a <VirtualHost> needs its own)".
  test('a main-server RewriteEngine On reaches a <VirtualHost> that does not set its own', () => {
    const options = fromApacheConfig(
      'RewriteEngine On\n<VirtualHost 127.0.0.1:18401>\n  RewriteRule ^/r/(.*) http://b2/r/$1 [P]\n  ProxyPass /m/ http://b2/vhost/\n</VirtualHost>\n',
    );
    assert.equal(backendPathOf(table(options).route(plainRequest('/r/x'))), '/r/x');
  });

  // Apache: ProxyPreserveHost (per-directory) in a <Location> applies to every request in that Location, whichever
  // directive proxies it. Recipe-style config below; ws GET /app/x reaches B1 with `Host: front.example:8000`.
  // wstunnel sends `Host: 127.0.0.1:18411` (the Location's option is attached to its own ProxyPass only).
  // A documented departure: wstunnel's options are per rule, so a <Location> option cannot reach a RewriteRule [P]
  // for the requests under its path only. The importer says so in its notes (--check lists them).
  test('a <Location> option does not reach a RewriteRule [P], and the import says so', () => {
    const imported = readApacheConfig(
      [
        'RewriteEngine On',
        'RewriteCond %{HTTP:Upgrade} websocket [NC]',
        'RewriteRule ^/app/(.*) ws://b1/$1 [P,L]',
        '<Location /app/>',
        '  ProxyPass http://b2/',
        '  ProxyPreserveHost On',
        '</Location>',
      ].join('\n'),
    );
    const upgrade = table(imported.options).route(upgradeRequest('/app/x'));
    assert.equal(targetOf(upgrade).hostname, 'b1');
    assert.equal(targetOf(upgrade).preserveHost, false);
    assert.equal(targetOf(table(imported.options).route(plainRequest('/app/x'))).preserveHost, true);
    assert.ok(
      imported.ignored.some(({ line, reason }) => line === 6 && /RewriteRule \[P\]/.test(reason)),
      JSON.stringify(imported.ignored),
    );
  });

  // Apache: <Location /app/> { ProxyPass http://B1/; ProxyPreserveHost On; ProxyAddHeaders Off } and
  // <Location /app/admin/> { ProxyPass http://B2/ }: GET /app/admin/x reaches B2 with the client's Host and no
  // X-Forwarded-Host (per-dir settings merge into the nested Location). wstunnel: Host 127.0.0.1:18412, X-Forwarded-*.
  test('options of an outer <Location> reach the ProxyPass of a nested <Location>', () => {
    const options = fromApacheConfig(
      '<Location /app/>\n  ProxyPass http://b1/\n  ProxyPreserveHost On\n  ProxyAddHeaders Off\n</Location>\n<Location /app/admin/>\n  ProxyPass http://b2/\n</Location>\n',
    );
    const decision = table(options).route(plainRequest('/app/admin/x'));
    assert.equal(targetOf(decision).hostname, 'b2');
    assert.equal(targetOf(decision).preserveHost, true);
    assert.equal(targetOf(decision).xForwarded, false);
  });

  // Apache: `<Location /m/> ProxyPassMatch http://B2/mm </Location>`: GET /m/y -> B2 `GET /mm/m/y`, but GET /z/m/y
  // is 404 (the <Location /m/> section does not match /z/m/y, so its ProxyPassMatch is never consulted).
  // wstunnel imports `{ match: '/m/' }`, an unanchored regex, and proxies /z/m/y to `GET /mm/z/m/y`.
  test('ProxyPassMatch inside a path <Location> only applies under that path', () => {
    const options = fromApacheConfig('<Location /m/>\n  ProxyPassMatch http://b2/mm\n</Location>\n');
    const routes = table(options);
    assert.equal(backendPathOf(routes.route(plainRequest('/m/y'))), '/mm/m/y');
    assert.equal(backendPathOf(routes.route(plainRequest('/z/m/y'))), undefined);
  });

  // Apache refuses the file: "ProxyTimeout not allowed in <Location> context". wstunnel imports it as the timeout of
  // the Location's rule.
  test('ProxyTimeout inside <Location> is refused, as httpd refuses it', () => {
    assert.throws(
      () =>
        fromApacheConfig('<Location /a/>\n  ProxyPass ws://b/\n  ProxyTimeout 5\n</Location>\n', {
          file: 's',
        }),
      (error: unknown) => error instanceof ApacheConfigError && error.line === 3,
    );
  });
});
