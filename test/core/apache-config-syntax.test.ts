// Why: the Apache importer's reading of httpd's own file syntax, checked with `apache2 -t` (httpd 2.4.71,
// Debian) and with requests on loopback against the same file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApacheConfigError, describeRules, fromApacheConfig, readApacheConfig } from '@wstunnel/core';

describe('httpd line continuation', () => {
  // httpd 2.4 (util.c ap_cfg_getline_core) removes one backslash before the newline and continues, whatever precedes
  // it: `ProxyPass /a/ ws://h/x\\` + newline + `ProxyPass /b/ ws://h/` is ONE directive for httpd, and `apache2 -t`
  // fails with "Invalid ProxyPass|ProxyPassMatch parameter. Parameter must be in the form 'key=value'." on line 2.
  // wstunnel reads two rules.
  test('a line ending in \\\\ continues onto the next line, as in httpd', () => {
    assert.throws(
      () => fromApacheConfig('ProxyPass /a/ ws://h/x\\\\\nProxyPass /b/ ws://h/\n'),
      ApacheConfigError,
    );
  });

  // A comment that ends in `\\` swallows the next line in httpd. Observed: `# Windows share: \\srv\share\\` followed by
  // `ProxyPass /x/ http://B1/` and `ProxyPass /y/ http://B1/`: Apache answers GET /x/1 with 404 (the ProxyPass was
  // part of the comment) and proxies /y/1; wstunnel proxies both.
  test('a comment ending in \\\\ swallows the next line (no rule for it)', () => {
    const options = fromApacheConfig(
      '# Windows share: \\\\srv\\share\\\\\nProxyPass /x/ http://b/\nProxyPass /y/ http://b/\n',
    );
    assert.deepStrictEqual(options.rules, [{ path: '/y/', target: 'http://b/' }]);
  });
});

describe('--check shows RewriteRule/RewriteCond as mod_rewrite would read them', () => {
  // mod_rewrite splits its arguments itself (parseargline): a quoted argument runs to the next quote and has no
  // escapes. describeRules quotes with ap_getword_conf escapes (`\\` and `\"`), so the regex shown is not the one
  // that runs: `RewriteRule "^/a b\.x$" ...` is shown as `RewriteRule "^/a b\\.x$" ...`, which httpd reads as the
  // regex ^/a b\\.x$ (a literal backslash).
  test('a quoted RewriteRule pattern is shown without ap_getword_conf escapes', () => {
    const options = fromApacheConfig('RewriteEngine On\nRewriteRule "^/a b\\.x$" ws://b/ [P]\n');
    const shown = describeRules(options).find((line) => line.includes('RewriteRule'));
    assert.ok(shown !== undefined);
    assert.ok(shown.includes('"^/a b\\.x$"'), shown);
  });

  test('what --check shows for a RewriteCond reads back as the same condition', () => {
    const text = 'RewriteEngine On\nRewriteCond %{HTTP:X-Tag} "^a b\\d$"\nRewriteRule ^/(.*) ws://b/$1 [P]\n';
    const options = fromApacheConfig(text);
    const shown = describeRules(options)
      .filter((line) => /Rewrite(Cond|Rule)/.test(line))
      .map((line) => line.replace(/^\s*(\d+\.)?\s*/, ''));
    const reread = readApacheConfig(`RewriteEngine On\n${shown.join('\n')}\n`).options.rules[0];
    assert.deepStrictEqual(
      (reread as { conditions?: unknown }).conditions,
      (options.rules[0] as { conditions?: unknown }).conditions,
    );
  });
});
