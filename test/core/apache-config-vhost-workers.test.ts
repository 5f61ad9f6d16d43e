// Why: worker sharing in the Apache importer, checked against Apache httpd 2.4.71 (Debian) on
// loopback with a backend answering after 2 s:
//   <VirtualHost> ProxyPass /a/ http://B/ timeout=5 </VirtualHost> ; ProxyPass /c/ http://B/ timeout=1
//     -> /a/ 502 after 1 s, /c/ 502 after 1 s: at request time the vhost's merged worker list holds the main server's
//        workers first (mod_proxy merge_proxy_config appends the vhost's), and ties go to the first one.
//   same, with the main ProxyPass to http://B/x/ instead      -> /a/ 200 after 2 s, /c/ 502 after 1 s: the main
//        server never shares a worker a <VirtualHost> defined, whatever the line order.
//   ProxyPass /a/ http://B/p%20q/ timeout=1 ; ProxyPass /c/ http://B/p%21r/ timeout=5
//     -> no AH01146: "%2" in a ProxyPass URL is no backreference, the two URLs are two workers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromApacheConfig, readApacheConfig } from '@wstunnel/core';

const timeouts = (text: string): Record<string, number | undefined> =>
  Object.fromEntries(
    fromApacheConfig(text).rules.map((rule) => [
      (rule as { path?: string }).path,
      (rule as { timeout?: number }).timeout,
    ]),
  );

describe('worker sharing', () => {
  test('a <VirtualHost> ProxyPass written before the main server’s ProxyPass to the same backend uses the main server’s worker', () => {
    const text =
      '<VirtualHost *:80>\n  ProxyPass /a/ http://b/ timeout=5\n</VirtualHost>\nProxyPass /c/ http://b/ timeout=1\n';
    assert.deepStrictEqual(timeouts(text), { '/a/': 1000, '/c/': 1000 });
  });

  test('a main-server ProxyPass written after a <VirtualHost> never shares a worker the vhost defined', () => {
    const text =
      '<VirtualHost *:80>\n  ProxyPass /a/ http://b/ timeout=5\n</VirtualHost>\nProxyPass /c/ http://b/x/ timeout=1\n';
    assert.deepStrictEqual(timeouts(text), { '/a/': 5000, '/c/': 1000 });
  });

  test('a percent-encoding in a ProxyPass URL is not a backreference: the two URLs are separate workers', () => {
    const result = readApacheConfig(
      'ProxyPass /a/ http://b/p%20q/ timeout=1\nProxyPass /c/ http://b/p%21r/ timeout=5\n',
    );
    const byPath = Object.fromEntries(
      result.options.rules.map((rule) => [
        (rule as { path?: string }).path,
        (rule as { timeout?: number }).timeout,
      ]),
    );
    assert.deepStrictEqual(byPath, { '/a/': 1000, '/c/': 5000 });
    assert.deepStrictEqual(
      result.ignored.filter((note) => /AH01146/.test(note.reason)),
      [],
    );
  });
});
