// Why: prefix matching follows Apache's alias_match exactly, and configuration mistakes fail at setup with a stable code.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createWstunnel, prefixLength, RuleTable, WstunnelConfigError } from '@wstunnel/core';
import { backendPathOf, plainRequest } from '../helpers/requests.ts';

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
    // Escapes of unreserved characters are decoded (RFC 3986 6.2.2.2), others kept in upper case; %2F stays a byte.
    ['/ws/', 'ws://b/%7Euser/', '/ws/%41%2f%20', '/%7Euser/A%2F%20'],
    ['/~u/', 'ws://b/', '/%7Eu/x', '/x'],
    ['/ws/', 'ws://b/', '/ws//x', '/x'],
    ['/ws2/', 'ws://b/', '//ws2/x', '/x'],
  ];
  for (const [rule, target, request, backend] of mapped) {
    test(`ProxyPass "${rule}" "${target}" maps ${request} to ${backend ?? 'no match'}`, () => {
      const table = new RuleTable([{ path: rule, target }]);
      assert.equal(backendPathOf(table.route(plainRequest(request))), backend);
    });
  }

  test('the first matching rule wins, in declaration order', () => {
    const table = new RuleTable([
      { path: '/ws/chat', target: 'ws://chat' },
      { path: '/ws', target: 'ws://rest' },
    ]);
    const ruleOf = (url: string) => {
      const decision = table.route(plainRequest(url));
      return decision.kind === 'http' ? decision.rule.index : undefined;
    };
    assert.equal(ruleOf('/ws/chat/room'), 0);
    assert.equal(ruleOf('/ws/other'), 1);
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
      'ANY combined with other tokens',
      [{ path: '/h/', target: 'http://b/', upgrade: ['websocket', 'ANY'] }],
      'ERR_WSTUNNEL_INVALID_OPTION',
      /cannot be combined/,
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
    assert.ok(rule?.kind === 'prefix');
    assert.deepEqual(
      { ...rule.target, tls: undefined, secureContext: undefined },
      {
        url: 'wss://b.example/',
        secure: true,
        hostname: 'b.example',
        port: 443,
        hostHeader: 'b.example',
        basePath: '/',
        baseQuery: '',
        websocketScheme: true,
        httpOrigin: 'https://b.example',
        upgrade: ['websocket'],
        fallbackToHttp: true,
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
    assert.ok(rule.target.secureContext, 'a wss:// target gets its TLS context at configuration time');
  });

  test('ANY and NONE are the special upgrade values; tokens are lower-cased', () => {
    const table = new RuleTable([
      { path: '/any/', target: 'ws://b/', upgrade: 'ANY' },
      { path: '/star/', target: 'ws://b/', upgrade: ['*'] },
      { path: '/none/', target: 'ws://b/', upgrade: 'NONE' },
      { path: '/list/', target: 'http://b/', upgrade: ['WebSocket', 'foo/2'] },
      { path: '/plain/', target: 'http://b/' },
    ]);
    const upgrades = table.rules.map((rule) => (rule.kind === 'exclude' ? undefined : rule.target.upgrade));
    assert.deepEqual(upgrades, ['*', '*', 'none', ['websocket', 'foo/2'], []]);
  });
});
