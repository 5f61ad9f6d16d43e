// Why: `wstunnel --config FILE [--check]`: errors must point at the line httpd would blame, and the
// command-line flags must override what the file's server-level settings decided (checked against httpd 2.4.71).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseCommand } from '@wstunnel/cli';
import { ApacheConfigError } from '@wstunnel/core';

describe('wstunnel --config: lines and flag overrides', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wstunnel-cli-review-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const lineOf = (path: string, ...flags: string[]): number => {
    try {
      parseCommand(['--config', path, '--check', ...flags], '1');
    } catch (error) {
      assert.ok(error instanceof ApacheConfigError, String(error));
      return error.line;
    }
    assert.fail('expected an ApacheConfigError');
  };

  // httpd: "AH00526: Syntax error on line 2 ...: RewriteCond: cannot compile regular expression '^(a'".
  // wstunnel: "cond.conf:4: rule #1, condition #1: pattern "^(a" is not a valid ... regular expression" (the line of
  // the RewriteRule, because checkTunnelOptions only knows rule lines).
  test('a bad RewriteCond regex is reported on the RewriteCond line', () => {
    const path = file(
      'cond.conf',
      'RewriteEngine On\nRewriteCond %{HTTP:X} ^(a\nRewriteCond %{HTTP:Y} b\nRewriteRule ^/(.*) ws://b/$1 [P]\n',
    );
    assert.equal(lineOf(path), 2);
  });

  // httpd accepts `Timeout 3000000`; wstunnel refuses it (more than 2^31-1 ms), which is fine, but blames line 2
  // ("rule #1 (/a/): timeout must be a whole number of milliseconds") instead of the Timeout directive on line 1.
  test('an out-of-range Timeout is reported on the Timeout line, not on the first rule', () => {
    const path = file('timeout.conf', 'Timeout 3000000\nProxyPass /a/ ws://h/\n');
    assert.equal(lineOf(path), 1);
  });

  // `Timeout 120` + `ProxyPass /a/ ws://h/ timeout=5`: the importer gives rule 1 idleTimeout 120 s (Apache's tunnel
  // idles out after the larger of Timeout and the backend timeout). That value comes from the server-level Timeout,
  // which --idle-timeout (and --timeout) are documented to override, yet rule 1 keeps idleTimeout=120s:
  //   1. ProxyPass /a/ ws://h/ timeout=5 idleTimeout=120s
  //   2. ProxyPass /b/ ws://h2/
  //   ... idleTimeout=1s
  test('--idle-timeout overrides the idle timeout the file’s Timeout gave a rule', () => {
    const path = file('idle.conf', 'Timeout 120\nProxyPass /a/ ws://h/ timeout=5\nProxyPass /b/ ws://h2/\n');
    const command = parseCommand(['--config', path, '--idle-timeout', '1000'], '1');
    assert.equal(command.kind, 'run');
    for (const rule of command.config.tunnel.rules) {
      const idle = (rule as { idleTimeout?: number }).idleTimeout;
      assert.ok(idle === undefined || idle === 1000, `rule idleTimeout ${idle}`);
    }
  });

  test('--timeout replaces the file’s Timeout for the idle timeout of rules with their own timeout=', () => {
    const path = file('idle2.conf', 'Timeout 120\nProxyPass /a/ ws://h/ timeout=5\n');
    const command = parseCommand(['--config', path, '--timeout', '5000'], '1');
    assert.equal(command.kind, 'run');
    const idle = (command.config.tunnel.rules[0] as { idleTimeout?: number }).idleTimeout;
    // Apache with Timeout 5 and timeout=5: the tunnel idles out after 5 s.
    assert.ok(idle === undefined || idle === 5000, `rule idleTimeout ${idle}`);
  });
});
