// Why: behaviours checked side by side with Apache httpd 2.4.71 on loopback that agree today (regression guard).
// Each expectation is the request line Apache's backend received; `undefined` is Apache's 404 (not proxied).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromApacheConfig, RuleTable } from '@wstunnel/core';
import { backendPathOf, plainRequest } from '../helpers/requests.ts';

const B = 'http://127.0.0.1:19001';
const table = (text: string): RuleTable => new RuleTable(fromApacheConfig(text).rules);
const route = (t: RuleTable, target: string, headers: Record<string, string> = {}) =>
  backendPathOf(t.route(plainRequest(target, headers)));

describe('RewriteRule [P] agrees with httpd 2.4.71', () => {
  const t = table(
    [
      'RewriteEngine on',
      `RewriteRule ^/rw1/(.*)$ ${B}/r1/$1 [P]`,
      `RewriteRule ^/nc/(.*)$ ${B}/nc/$1 [P,NC]`,
      `RewriteRule ^/qf/(.*)$ ${B}/qf/$1?f=1 [P]`,
      `RewriteRule ^/qg/(.*)$ ${B}/qg/$1?f=1 [P,QSA]`,
      'RewriteCond %{QUERY_STRING} ^a=(.*)$',
      `RewriteRule ^/qsq/ ${B}/qsq?v=%1 [P]`,
      'RewriteCond %{HTTP:X-T} =Abc [NC]',
      `RewriteRule ^/eq/ ${B}/eq-yes [P]`,
      `RewriteRule ^/mid ${B}/mid/$0 [P]`,
      `RewriteRule ^/e/(.*)$ ${B}/e/$1 [P]`,
      '',
    ].join('\n'),
  );
  test('captures of encoded paths', () => {
    assert.equal(route(t, '/rw1/%61'), '/r1/a');
    assert.equal(route(t, '/rw1/a%20b'), '/r1/a%20b');
  });
  test('[NC] on the rule pattern', () => {
    assert.equal(route(t, '/NC/X'), '/nc/X');
    assert.equal(route(t, '/Nc/X?q=1'), '/nc/X?q=1');
  });
  test('substitution query, with and without [QSA]', () => {
    assert.equal(route(t, '/qf/x?w=2'), '/qf/x?f=1');
    assert.equal(route(t, '/qf/x'), '/qf/x?f=1');
    assert.equal(route(t, '/qg/x?w=2'), '/qg/x?f=1&w=2');
    assert.equal(route(t, '/qg/x?'), '/qg/x?f=1');
    assert.equal(route(t, '/e/x?'), '/e/x?');
  });
  test('%{QUERY_STRING} is raw; %N into the query keeps escapes', () => {
    assert.equal(route(t, '/qsq/?a=b%20c'), '/qsq?v=b%20c');
  });
  test('RewriteCond =text [NC]', () => {
    assert.equal(route(t, '/eq/', { 'x-t': 'aBC' }), '/eq-yes');
    assert.equal(route(t, '/eq/', { 'x-t': 'abcd' }), undefined);
  });
  test('$0 of an unanchored-at-end pattern', () => {
    assert.equal(route(t, '/mid/x?q=1'), '/mid//mid?q=1');
    assert.equal(route(t, '/middle'), '/mid//mid');
  });
  test('^/?(.*) with the empty path', () => {
    const all = table(`RewriteEngine on\nRewriteRule ^/?(.*) ${B}/all/$1 [P]\n`);
    assert.equal(route(all, '/'), '/all/');
    assert.equal(route(all, '/?q=1'), '/all/?q=1');
    assert.equal(route(all, '/x'), '/all/x');
  });
});

describe('ProxyPassMatch and ProxyPass agree with httpd 2.4.71', () => {
  const t = table(
    [
      `ProxyPassMatch ^/z0/(.*)$ ${B}/z0$0`,
      `ProxyPassMatch ^/g/(a)?(b)?/(.*)$ ${B}/g/$1-$2-$3`,
      `ProxyPassMatch ^/g3/(x)(y)(z)$ ${B}/g3/$3$2$1`,
      `ProxyPassMatch /mm/(.*)$ ${B}/mm/$1`,
      `ProxyPassMatch mn ${B}/mn`,
      '<Location /ex/>',
      `ProxyPass ${B}/loc/`,
      '</Location>',
      `ProxyPass /ex2/ ${B}/srv2/`,
      '<Location /ex2/no/>',
      'ProxyPass !',
      '</Location>',
      'ProxyPass /ex3/no !',
      `ProxyPass /ex3/ ${B}/srv3/`,
      '',
    ].join('\n'),
  );
  test('$0, several groups, unmatched optional groups', () => {
    assert.equal(route(t, '/z0/a?q=1'), '/z0/z0/a?q=1');
    assert.equal(route(t, '/g/a/x'), '/g/a--x');
    assert.equal(route(t, '/g/ab/x'), '/g/a-b-x');
    assert.equal(route(t, '/g/b/x'), '/g/-b-x');
    assert.equal(route(t, '/g3/xyz'), '/g3/zyx');
  });
  test('a regex that matches in the middle of the path', () => {
    assert.equal(route(t, '/pre/mm/x'), '/mm/x');
    assert.equal(route(t, '/amnb?q=1'), '/mn/amnb?q=1');
  });
  test('exclusions and <Location>', () => {
    assert.equal(route(t, '/ex/x'), '/loc/x');
    assert.equal(route(t, '/ex2/no/x'), undefined);
    assert.equal(route(t, '/ex2/x'), '/srv2/x');
    assert.equal(route(t, '/ex3/no'), undefined);
    assert.equal(route(t, '/ex3//no'), undefined);
    assert.equal(route(t, '/ex3/nox'), '/srv3/nox');
  });
});
