// Why: rule routing compared side by side with Apache httpd 2.4.71 on loopback (same config text, raw request-targets,
// backend echoing its request line). Each expectation below is the request line Apache's backend received (or
// `undefined` where Apache did not proxy: 404). The first group were differences, fixed to agree with Apache; the
// last group pins the departures the README lists.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromApacheConfig, RuleTable } from '@wstunnel/core';
import { backendPathOf, plainRequest } from '../helpers/requests.ts';

const B = 'http://127.0.0.1:19001';
const table = (text: string): RuleTable => new RuleTable(fromApacheConfig(text).rules);
const route = (t: RuleTable, target: string, headers: Record<string, string> = {}) =>
  backendPathOf(t.route(plainRequest(target, headers)));

describe('agrees with httpd 2.4.71 where it once differed', () => {
  test('a leading "//" does not bypass a ProxyPassMatch exclusion', () => {
    // Apache: MergeSlashes makes r->uri "/admin/x", the exclusion matches, 404. wstunnel matched "//admin/x",
    // then collapsed the backend path to "/admin/x" and forwarded exactly what the exclusion protects.
    const t = table(`ProxyPassMatch ^/admin !\nProxyPass / ${B}/\n`);
    assert.equal(route(t, '/admin/x'), undefined);
    assert.equal(route(t, '//admin/x'), undefined);
  });

  test('a leading "//" does not bypass RewriteCond %{REQUEST_URI} !^/admin', () => {
    const t = table(
      `RewriteEngine on\nRewriteCond %{REQUEST_URI} !^/admin\nRewriteRule ^/?(.*) ${B}/$1 [P]\n`,
    );
    assert.equal(route(t, '/admin'), undefined);
    assert.equal(route(t, '//admin'), undefined); // was different before the fix
  });

  test('RewriteRule ^/rw1/(.*)$ matches //rw1/x (httpd merges leading slashes first)', () => {
    const t = table(`RewriteEngine on\nRewriteRule ^/rw1/(.*)$ ${B}/r1/$1 [P]\n`);
    assert.equal(route(t, '//rw1/x'), '/r1/x'); // was different before the fix
  });

  test('%{REQUEST_URI} is the decoded path', () => {
    const t = table(
      [
        'RewriteEngine on',
        'RewriteCond %{REQUEST_URI} "^/ru/a b$"',
        `RewriteRule ^/ru/ ${B}/ru-decoded [P]`,
        'RewriteCond %{REQUEST_URI} ^/ru/a%20b$',
        `RewriteRule ^/ru/ ${B}/ru-encoded [P]`,
        'RewriteCond %{REQUEST_URI} ^/ru/ab$',
        `RewriteRule ^/ru/ ${B}/ru-unres-decoded [P]`,
        '',
      ].join('\n'),
    );
    assert.equal(route(t, '/ru/%61b'), '/ru-unres-decoded'); // agrees today
    assert.equal(route(t, '/ru/a%20b'), '/ru-decoded'); // was different before the fix
  });

  test('%{THE_REQUEST} is the request line as received', () => {
    const t = table(
      [
        'RewriteEngine on',
        'RewriteCond %{THE_REQUEST} "^GET /tr/a%20b%61\\?z=%41 HTTP/1.1$"',
        `RewriteRule ^/tr/ ${B}/tr-raw [P]`,
        '',
      ].join('\n'),
    );
    // Apache: "GET /tr-raw?z=%41". wstunnel builds THE_REQUEST from the normalised path ("/tr/a%20ba?z=%41").
    assert.equal(route(t, '/tr/a%20b%61?z=%41'), '/tr-raw?z=%41');
  });

  test('%N taken from a header or the query is literal text when it lands in the path ("%" is encoded)', () => {
    const t = table(
      [
        'RewriteEngine on',
        'RewriteCond %{HTTP:X-Id} ^(.*)$',
        `RewriteRule ^/hd/ ${B}/hd/%1 [P]`,
        'RewriteCond %{QUERY_STRING} ^a=(.*)$',
        `RewriteRule ^/qs/ ${B}/qs/%1 [P]`,
        '',
      ].join('\n'),
    );
    assert.equal(route(t, '/hd/', { 'x-id': 'a b' }), '/hd/a%20b'); // agrees today
    assert.equal(route(t, '/hd/', { 'x-id': 'a%20b' }), '/hd/a%2520b'); // was different before the fix
    assert.equal(route(t, '/qs/?a=b%20c'), '/qs/b%2520c?a=b%20c'); // was different before the fix
  });

  test('[QSA] with an empty substitution query and an empty client query sends no "?"', () => {
    const t = table(`RewriteEngine on\nRewriteRule ^/qe/(.*)$ ${B}/qe/$1? [P,QSA]\n`);
    assert.equal(route(t, '/qe/x?w=2'), '/qe/x?w=2'); // agrees today
    assert.equal(route(t, '/qe/x?'), '/qe/x'); // was different before the fix
  });
});

describe('documented departures (README "Departures from Apache")', () => {
  test('a RewriteRule pattern sees the percent-encoded path: a literal space in it never matches', () => {
    const t = table(
      `RewriteEngine on\nRewriteRule "^/sp/a b$" ${B}/sp-literal [P]\nRewriteRule ^/sp/(.*)$ ${B}/sp/$1 [P]\n`,
    );
    // Apache matches the first rule (decoded path); wstunnel the second, with the escape kept.
    assert.equal(route(t, '/sp/a%20b'), '/sp/a%20b');
  });

  test('a "?" in a ProxyPass target starts its query, merged with the client\'s', () => {
    const t = table(`ProxyPass /tq2/ ${B}/x/?y=1\n`);
    // Apache percent-encodes it into the path: "/x/%3Fy=1z?w=2".
    assert.equal(route(t, '/tq2/z?w=2'), '/x/z?y=1&w=2');
  });
});
