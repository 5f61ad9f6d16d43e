// Regression, found in review of the balancer: (low, configuration-time): sticky.separator accepts any one character, including CR/LF/';'/'=' that end
// up raw in the Set-Cookie line written on the 101; two members may share a route (Apache find_route_worker walks
// every worker with the route; here only the first is ever considered, so the second never gets its sessions).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWstunnel } from '@wstunnel/core';

test('sticky.separator must not be a control or cookie-delimiting character', () => {
  for (const separator of ['\n', '\r', ';', '=', ' '])
    assert.throws(
      () =>
        createWstunnel({
          rules: [],
          balancers: {
            a: {
              sticky: { cookie: 'R', separator, setCookie: true },
              members: [{ url: 'ws://b', route: 'r' }],
            },
          },
        }),
      { name: 'WstunnelConfigError' },
      JSON.stringify(separator),
    );
});
