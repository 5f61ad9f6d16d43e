// Why: prefix matching follows Apache's alias_match exactly, and configuration mistakes fail at setup with a stable code.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createWstunnel, prefixLength, RuleTable, WstunnelConfigError } from '@wstunnel/core';

describe('prefix matching (ProxyPass semantics)', () => {
  const cases: [path: string, prefix: string, consumed: number][] = [
    ['/foo', '/foo', 4],
    ['/foo/', '/foo', 4],
    ['/foo/bar', '/foo', 4],
    ['/foobar', '/foo', -1],
    ['/fo', '/foo', -1],
    ['/foo', '/foo/', -1],
    ['/foo/bar', '/foo/', 5],
    ['//foo///bar', '/foo/bar', 11],
    ['/foo////bar', '/foo/', 8],
    ['/Foo', '/foo', -1],
    ['/', '/', 1],
    ['/anything', '/', 1],
  ];
  for (const [path, prefix, consumed] of cases) {
    test(`${prefix} against ${path} consumes ${consumed}`, () => {
      assert.equal(prefixLength(path, prefix), consumed);
    });
  }

  const mapped: [rule: string, target: string, request: string, backend: string | undefined][] = [
    ['/ws2/', 'ws://echo.example/', '/ws2/', '/'],
    ['/ws2/', 'ws://echo.example/', '/ws2/chat?room=1', '/chat?room=1'],
    ['/ws2/', 'ws://echo.example/', '/ws2', undefined],
    ['/ws', 'ws://b/base', '/ws', '/base'],
    ['/ws', 'ws://b/base', '/ws/a//b?x=%41', '/base/a//b?x=%41'],
    ['/ws', 'ws://b/base', '/wsx', undefined],
    ['/ws', 'ws://b', '/ws', '/'],
    ['/ws', 'ws://b', '/ws?q', '/?q'],
    ['/ws', 'ws://b', '/ws/x', '/x'],
    ['/ws/', 'ws://b/app/?fixed=1', '/ws/x?q=2', '/app/x?fixed=1&q=2'],
    ['/ws/', 'ws://b/app/?fixed=1', '/ws/x', '/app/x?fixed=1'],
    ['/ws/', 'ws://b/%7Euser/', '/ws/%41%2F', '/%7Euser/%41%2F'],
  ];
  for (const [rule, target, request, backend] of mapped) {
    test(`ProxyPass "${rule}" "${target}" maps ${request} to ${backend ?? 'no match'}`, () => {
      const table = new RuleTable([{ path: rule, target }]);
      assert.equal(table.match(request)?.backendPath, backend);
    });
  }

  test('the first matching rule wins, in declaration order', () => {
    const table = new RuleTable([
      { path: '/ws/chat', target: 'ws://chat' },
      { path: '/ws', target: 'ws://rest' },
    ]);
    assert.equal(table.match('/ws/chat/room')?.rule.index, 0);
    assert.equal(table.match('/ws/other')?.rule.index, 1);
  });
});

describe('configuration errors are typed and thrown at setup', () => {
  const invalid: [name: string, rules: unknown, code: string, message: RegExp][] = [
    [
      'a path without a leading slash',
      [{ path: 'ws/', target: 'ws://b/' }],
      'ERR_WSTUNNEL_INVALID_RULE',
      /must start with "\/"/,
    ],
    ['a path with a query', [{ path: '/ws?x', target: 'ws://b' }], 'ERR_WSTUNNEL_INVALID_RULE', /path/],
    [
      'an unparsable target',
      [{ path: '/ws/', target: 'not a url' }],
      'ERR_WSTUNNEL_INVALID_TARGET',
      /not a valid URL/,
    ],
    [
      'an ftp target',
      [{ path: '/ws/', target: 'ftp://b/' }],
      'ERR_WSTUNNEL_INVALID_TARGET',
      /ws:\/\/, wss:\/\//,
    ],
    [
      'credentials in the target',
      [{ path: '/ws/', target: 'ws://u:p@b/' }],
      'ERR_WSTUNNEL_INVALID_TARGET',
      /scheme/,
    ],
    [
      'a fragment in the target',
      [{ path: '/ws/', target: 'ws://b/#x' }],
      'ERR_WSTUNNEL_INVALID_TARGET',
      /scheme/,
    ],
    [
      'a trailing-slash mismatch (path has it)',
      [{ path: '/ws/', target: 'ws://b/x' }],
      'ERR_WSTUNNEL_INVALID_RULE',
      /trailing slash/,
    ],
    [
      'a trailing-slash mismatch (target has it)',
      [{ path: '/ws', target: 'ws://b/x/' }],
      'ERR_WSTUNNEL_INVALID_RULE',
      /trailing slash/,
    ],
    [
      'a root rule on a target without a path',
      [{ path: '/', target: 'ws://b' }],
      'ERR_WSTUNNEL_INVALID_RULE',
      /trailing slash/,
    ],
    [
      'a rule shadowed by an earlier one',
      [
        { path: '/ws', target: 'ws://a' },
        { path: '/ws/chat', target: 'ws://b' },
      ],
      'ERR_WSTUNNEL_INVALID_RULE',
      /can never match, rule #1/,
    ],
    [
      'an http target that upgrades nothing',
      [{ path: '/h/', target: 'http://b/' }],
      'ERR_WSTUNNEL_UNSUPPORTED',
      /upgrade/,
    ],
    [
      'a negative timeout',
      [{ path: '/ws/', target: 'ws://b/', timeout: -1 }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /timeout/,
    ],
    [
      'a fractional idle timeout',
      [{ path: '/ws/', target: 'ws://b/', idleTimeout: 1.5 }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /idleTimeout/,
    ],
    ['max of zero', [{ path: '/ws/', target: 'ws://b/', max: 0 }], 'ERR_WSTUNNEL_INVALID_OPTION', /max/],
    [
      'an upgrade token with a space',
      [{ path: '/ws/', target: 'ws://b/', upgrade: ['web socket'] }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /token/,
    ],
    [
      'upgrade given as a string',
      [{ path: '/ws/', target: 'ws://b/', upgrade: 'websocket' }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /upgrade/,
    ],
    [
      'a non-boolean flag',
      [{ path: '/ws/', target: 'ws://b/', halfClose: 'no' }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /halfClose/,
    ],
    ['rules that are not an array', { path: '/ws/' }, 'ERR_WSTUNNEL_INVALID_RULE', /array/],
  ];
  for (const [name, rules, code, message] of invalid) {
    test(`${name}: ${code}`, () => {
      assert.throws(
        () => createWstunnel({ rules } as never),
        (error: unknown) =>
          error instanceof WstunnelConfigError && error.code === code && message.test(error.message),
      );
    });
  }

  test('valid options resolve with Apache defaults', () => {
    const [rule] = new RuleTable([{ path: '/ws/', target: 'wss://b.example/' }]).rules;
    assert.deepEqual(
      { ...rule!.target, tls: undefined, secureContext: undefined },
      {
        url: 'wss://b.example/',
        secure: true,
        hostname: 'b.example',
        port: 443,
        hostHeader: 'b.example',
        basePath: '/',
        baseQuery: '',
        upgrade: ['websocket'],
        preserveHost: false,
        xForwarded: true,
        trustForwarded: false,
        connectTimeout: 60_000,
        timeout: 60_000,
        idleTimeout: 60_000,
        keepAlive: false,
        halfClose: true,
        max: Number.POSITIVE_INFINITY,
        tls: undefined,
        secureContext: undefined,
      },
    );
    assert.ok(rule!.target.secureContext, 'a wss:// target gets its TLS context at configuration time');
  });

  test('ANY in the upgrade list means any token; tokens are lower-cased', () => {
    const table = new RuleTable([
      { path: '/any/', target: 'ws://b/', upgrade: ['websocket', 'ANY'] },
      { path: '/list/', target: 'http://b/', upgrade: ['WebSocket', 'foo/2'] },
    ]);
    assert.equal(table.rules[0]!.target.upgrade, '*');
    assert.deepEqual(table.rules[1]!.target.upgrade, ['websocket', 'foo/2']);
  });
});
