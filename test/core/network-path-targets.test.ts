// Why: request-target routing: rules must match the path the backend will act on. A backend that reads
// its request-target with the WHATWG URL parser (new URL(req.url, base), as fetch-style servers do) takes a target
// starting with "//" as a network-path reference: "//evil/admin/x" is host "evil", path "/admin/x".
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RuleTable } from '@wstunnel/core';
import { backendPathOf, plainRequest, upgradeRequest } from '../helpers/requests.ts';

/** The path a WHATWG-URL backend acts on for a forwarded request-target. */
const whatwgPath = (target: string): string => new URL(target, 'http://backend.test').pathname;

describe('request-targets with an empty first segment', () => {
  const table = new RuleTable([
    { path: '/ws/admin/', exclude: true },
    { path: '/ws', target: 'http://b' },
  ]);

  test('control: the excluded path passes', () => {
    assert.equal(backendPathOf(table.route(plainRequest('/ws/admin/x'))), undefined);
  });

  test('"/ws//evil/admin/x" does not reach the backend path an exclusion keeps out', () => {
    const decision = table.route(plainRequest('/ws//evil/admin/x'));
    const forwarded = backendPathOf(decision);
    // Either refused or passed like the exclusion, or forwarded as a path the backend does not read as /admin/x.
    if (typeof forwarded === 'string')
      assert.notEqual(whatwgPath(forwarded), '/admin/x', `forwarded ${forwarded}`);
  });

  test('an upgrade to "/ws//evil/admin/x" is not tunnelled to the excluded backend path either', () => {
    const ws = new RuleTable([
      { path: '/ws/admin/', exclude: true },
      { path: '/ws', target: 'ws://b' },
    ]);
    const forwarded = backendPathOf(ws.route(upgradeRequest('/ws//evil/admin/x')));
    if (typeof forwarded === 'string')
      assert.notEqual(whatwgPath(forwarded), '/admin/x', `forwarded ${forwarded}`);
  });

  test('a regex rule does not forward a "//" target a WHATWG backend reads as another host and path', () => {
    const regex = new RuleTable([{ match: '^/m/(.*)$', target: 'http://b/$1' }]);
    const forwarded = backendPathOf(regex.route(plainRequest('/m//evil/admin/x')));
    if (typeof forwarded === 'string') assert.ok(!forwarded.startsWith('//'), `forwarded ${forwarded}`);
  });
});
