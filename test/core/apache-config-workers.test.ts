// Why: worker parameters as Apache httpd 2.4.71 shares them (Debian), run on loopback with the same site file.
// httpd keeps worker parameters per *worker*, not per ProxyPass: a ProxyPass (or <Proxy>/ProxySet) whose URL starts
// with the name of an existing worker shares that worker ("AH01145"/"AH01146: Ignoring parameter 'timeout=5' for
// worker 'http://127.0.0.1:18411/' because of worker sharing"), and a later ProxySet changes the worker for every
// rule that uses it. RewriteRule [P] targets use the longest-prefix worker too. Observed (backend answering after 2 s):
//   ProxyPass /a/ http://B1/ timeout=1 ; ProxyPass /c/ http://B1/            -> /c/ 502 after 1 s (wstunnel: 200 after 2 s)
//   ... ; ProxyPass /b/ http://B1/sub/                                      -> /b/ 502 after 1 s
//   ... ; ProxyPass /c/ http://B1/ timeout=5                                -> /c/ 502 after 1 s (timeout=5 ignored)
//   ProxyPass /p/ http://B2/ timeout=5 ; <Proxy http://B2/> ProxySet timeout=1 -> /p/ 502 after 1 s (wstunnel: 5 s)
//   <Proxy http://B1/> ProxySet timeout=1 ; <Proxy http://B1/sub/> ProxySet timeout=5 ; ProxyPass /a/ http://B1/
//                                                                           -> /a/ 200 after 2 s (wstunnel: 504 after 1 s)
//   RewriteRule ^/r/(.*) http://B1/r/$1 [P] ; ProxyPass /a/ http://B1/ timeout=1 -> /r/ 502 after 1 s (wstunnel: 60 s)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromApacheConfig } from '@wstunnel/core';

const timeouts = (text: string): (number | undefined)[] =>
  fromApacheConfig(text).rules.map((rule) => (rule as { timeout?: number }).timeout);

describe('worker parameters belong to the shared httpd worker', () => {
  test('a second ProxyPass to the same backend URL shares the first one’s timeout=', () => {
    assert.deepStrictEqual(
      timeouts('ProxyPass /a/ http://b/ timeout=1\nProxyPass /c/ http://b/\n'),
      [1000, 1000],
    );
  });

  test('a ProxyPass whose URL extends an existing worker name shares that worker', () => {
    assert.deepStrictEqual(
      timeouts('ProxyPass /a/ http://b/ timeout=1\nProxyPass /b/ http://b/sub/\n'),
      [1000, 1000],
    );
  });

  test('the parameters of a ProxyPass that shares a worker are ignored (AH01146)', () => {
    assert.deepStrictEqual(
      timeouts('ProxyPass /a/ http://b/ timeout=1\nProxyPass /c/ http://b/ timeout=5\n'),
      [1000, 1000],
    );
  });

  test('a ProxySet written after the ProxyPass changes that worker: the last value written wins', () => {
    assert.deepStrictEqual(
      timeouts('ProxyPass /p/ http://b/ timeout=5\n<Proxy http://b/>\n  ProxySet timeout=1\n</Proxy>\n'),
      [1000],
    );
    assert.deepStrictEqual(
      timeouts('ProxyPass /a/ http://b/ timeout=1\nProxySet http://b/ timeout=6\n'),
      [6000],
    );
  });

  test('a <Proxy> for a longer URL defined later modifies the existing shorter worker', () => {
    assert.deepStrictEqual(
      timeouts(
        '<Proxy http://b/>\n  ProxySet timeout=1\n</Proxy>\n<Proxy http://b/sub/>\n  ProxySet timeout=5\n</Proxy>\nProxyPass /a/ http://b/\n',
      ),
      [5000],
    );
  });

  test('a RewriteRule [P] target uses the worker a ProxyPass defined for that backend', () => {
    assert.deepStrictEqual(
      timeouts(
        'RewriteEngine On\nRewriteRule ^/r/(.*) http://b/r/$1 [P]\nProxyPass /a/ http://b/ timeout=1\n',
      ),
      [1000, 1000],
    );
  });
});
