// Why: edge cases of the Apache importer found in review: odd input must give an ApacheConfigError with a line, never a
// crash, and what imports must route as httpd 2.4 does (checked against Apache 2.4.71, mod_rewrite.c).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApacheConfigError, fromApacheConfig, RuleTable } from '@wstunnel/core';
import { backendPathOf, plainRequest } from '../helpers/requests.ts';

/** Imports `text`; returns the options, or the ApacheConfigError (any other exception fails the test). */
function importOrError(text: string): ReturnType<typeof fromApacheConfig> | ApacheConfigError {
  try {
    return fromApacheConfig(text, { file: 'site.conf' });
  } catch (error) {
    assert.ok(
      error instanceof ApacheConfigError,
      `${(error as Error).constructor.name}: ${(error as Error).message}`,
    );
    return error;
  }
}

describe('odd input is an ApacheConfigError or imports, never a crash', () => {
  const inputs: [string, string][] = [
    ['empty file', ''],
    ['only comments', '# one\n   # two\n'],
    ['"<" alone', '<'],
    ['unbalanced quote', 'ProxyPass "/a/ ws://b/'],
    ['BOM then CRLF', '\uFEFFProxyPass /a/ ws://b/\r\n'],
    ['tabs', 'ProxyPass\t/a/\tws://b/'],
    ['huge line', `ProxyPass /a/ ws://b/${' retry=1'.repeat(50_000)}`],
    ['a line holding only a no-break space (pasted from a web page)', 'ProxyPass /a/ ws://b/\n\u00a0\n'],
    ['a BOM on a later line (two files concatenated)', 'ProxyPass /a/ ws://b/\n\uFEFF\n'],
    ['an ideographic space line', '\u3000'],
  ];
  for (const [name, text] of inputs) {
    test(name, () => {
      importOrError(text);
    });
  }
});

describe('RewriteCond string comparisons import with mod_rewrite meaning', () => {
  const site = (pattern: string): string =>
    `RewriteEngine On\nRewriteCond %{HTTP:X-Probe} ${pattern}\nRewriteRule ^/(.*) ws://b/$1 [P,L]\n`;
  test('=""  (the manual\'s test for an empty value) matches a request without the header', () => {
    const options = importOrError(site('=""'));
    assert.ok(!(options instanceof ApacheConfigError));
    const table = new RuleTable(options.rules);
    assert.equal(backendPathOf(table.route(plainRequest('/x'))), '/x');
    assert.equal(backendPathOf(table.route(plainRequest('/x', { 'x-probe': 'v' }))), undefined);
  });
  test('==yes compares with "yes" (mod_rewrite skips a second "=")', () => {
    const options = importOrError(site('==yes'));
    if (options instanceof ApacheConfigError) return; // refusing it is fine too
    const table = new RuleTable(options.rules);
    assert.equal(backendPathOf(table.route(plainRequest('/x', { 'x-probe': 'yes' }))), '/x');
  });
});
