// Why: what every adapter relies on lives in the core seam: a route's target maps the mount-relative path and the
// route's captures like a gateway rule would, and a headers function cannot smuggle or override what wstunnel sets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mountRelativePath, RouteTunnel, WstunnelConfigError } from '@wstunnel/core';
import { backendPathOf, upgradeRequest } from '../helpers/requests.ts';

/** The backend path (or refusal status) a route with `target` decides for `url` and the route's `captures`. */
function decide(target: string, url: string, captures: readonly string[] = []): string | number | undefined {
  const route = new RouteTunnel<unknown>({ target }, 'test');
  try {
    return backendPathOf(route.decide({ req: upgradeRequest(url), path: url, captures, context: {} }));
  } catch (error) {
    return (error as { status?: number }).status;
  }
}

describe('a route target maps the mount-relative path like ProxyPass', () => {
  const cases: [string, string, string][] = [
    ['ws://b/', '/chat?x=1', '/chat?x=1'],
    ['ws://b', '/chat', '/chat'],
    ['ws://b/app', '/chat', '/app/chat'],
    ['ws://b/app/', '/', '/app/'],
    ['ws://b/app?k=v', '/chat?x=1', '/app/chat?k=v&x=1'],
    ['http://b:9080', '/a/b', '/a/b'],
  ];
  for (const [target, url, expected] of cases) {
    test(`${target} + ${url} -> ${expected}`, () => {
      assert.equal(decide(target, url), expected);
    });
  }
});

describe('route parameters are $1-$9, escaped for where they land', () => {
  test('a regex capture fills $1', () => {
    assert.equal(decide('http://b/$1', '/myApp/ws', ['myApp/ws']), '/myApp/ws');
  });
  test('$0 is the whole mount-relative path', () => {
    assert.equal(decide('http://b/x$0', '/a/b', []), '/x/a/b');
  });
  test('a decoded parameter holding "?" or "#" cannot start a query or fragment', () => {
    const path = decide('http://b/r/$1', '/rooms/x', ['a?b#c']);
    assert.equal(typeof path, 'string');
    assert.ok(!String(path).includes('?') && !String(path).includes('#'), String(path));
  });
  test('a parameter that forms a dot segment gets 400', () => {
    assert.equal(decide('http://b/r/$1/x', '/rooms/x', ['..']), 400);
  });
  test('a parameter cannot reach the target host', () => {
    assert.throws(
      () => new RouteTunnel<unknown>({ target: 'http://$1/' }, 'test'),
      (error: unknown) => error instanceof WstunnelConfigError,
    );
  });
});

describe('route options are checked at configuration time', () => {
  test('neither target nor rules', () => {
    assert.throws(
      () => new RouteTunnel<unknown>({}, 'test'),
      (error: unknown) =>
        error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_OPTION',
    );
  });
  test('both target and rules', () => {
    assert.throws(
      () => new RouteTunnel<unknown>({ target: 'ws://b/', rules: [] }, 'test'),
      (error: unknown) =>
        error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_OPTION',
    );
  });
  test('a target that is not ws/wss/http/https', () => {
    assert.throws(
      () => new RouteTunnel<unknown>({ target: 'ftp://b/' }, 'test'),
      (error: unknown) =>
        error instanceof WstunnelConfigError && error.code === 'ERR_WSTUNNEL_INVALID_TARGET',
    );
  });
  test('headers that is not a function', () => {
    assert.throws(
      () => new RouteTunnel<unknown>({ target: 'ws://b/', headers: {} as never }, 'test'),
      (error: unknown) => error instanceof WstunnelConfigError,
    );
  });
});

describe('mountRelativePath strips a mount segment-wise', () => {
  const cases: [string, string, string | undefined][] = [
    ['/ws2/a?x', '/ws2', '/a?x'],
    ['/ws2', '/ws2', '/'],
    ['/ws2?x', '/ws2', '/?x'],
    ['/ws2x/a', '/ws2', undefined],
    ['/other', '/ws2', undefined],
    ['/a', '', '/a'],
  ];
  for (const [url, mount, expected] of cases) {
    test(`${url} under ${mount || '(none)'} -> ${expected}`, () => {
      assert.equal(mountRelativePath(url, mount), expected);
    });
  }
});

describe('a headers function is checked on every request', () => {
  const route = (headers: () => Record<string, string | undefined>) =>
    new RouteTunnel<unknown>({ target: 'ws://b/', headers }, 'test');
  const call = { req: upgradeRequest('/x'), path: '/x', context: {} };

  test('its fields ride on the decision, names lower-cased, undefined meaning "remove"', () => {
    const decision = route(() => ({ 'X-User': 'ann', Cookie: undefined })).decide(call);
    assert.ok(decision.kind === 'tunnel');
    assert.deepEqual(
      [...(decision.headers ?? [])],
      [
        ['x-user', 'ann'],
        ['cookie', undefined],
      ],
    );
  });
  for (const [name, fields] of [
    ['Host', { Host: 'evil' }],
    ['Connection', { Connection: 'close' }],
    ['Upgrade', { upgrade: 'h2c' }],
    ['Content-Length', { 'content-length': '5' }],
    ['X-Forwarded-For', { 'x-forwarded-for': '10.0.0.1' }],
    ['a CR/LF value', { 'x-a': 'v\r\nX-Injected: 1' }],
    ['a name with a space', { 'x a': 'v' }],
  ] as const) {
    test(`${name} is refused with 500 (ERR_WSTUNNEL_ROUTE_FUNCTION), never forwarded`, () => {
      assert.throws(
        () => route(() => ({ ...fields })).decide(call),
        (error: { status?: number; code?: string }) =>
          error.status === 500 && error.code === 'ERR_WSTUNNEL_ROUTE_FUNCTION',
      );
    });
  }
  test('a function that throws gives 500 with the cause kept', () => {
    const failing = route(() => {
      throw new Error('no session');
    });
    assert.throws(
      () => failing.decide(call),
      (error: Error) => (error.cause as Error).message === 'no session',
    );
  });
});
