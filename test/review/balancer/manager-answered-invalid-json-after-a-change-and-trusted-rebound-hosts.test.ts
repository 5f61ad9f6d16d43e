// Regression, found in review of the balancer: in balancer/manager.ts + cli gateway --manager:
//  (a) readJson() calls done() inside its JSON.parse try: any throw from apply()/send() is answered
//      "the body is not valid JSON" (400) even after the change was applied.
//  (b) the loopback-only default trusts the peer address but not the Host header: a page the operator opens in a
//      browser on that machine can DNS-rebind its own name to 127.0.0.1 and, same-origin, POST
//      application/json to add a member that receives users' tunnels. Apache pairs balancer-manager with a nonce.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { startGateway } from '@wstunnel/cli';

function post(
  port: number,
  body: string,
  host = `127.0.0.1:${port}`,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/balancer-manager',
        headers: { 'content-type': 'application/json', host },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function gateway() {
  const g = await startGateway({
    host: '127.0.0.1',
    port: 0,
    manager: { path: '/balancer-manager' },
    tunnel: {
      rules: [{ path: '/ws/', target: 'balancer://pool/' }],
      balancers: { pool: { members: [{ url: 'ws://127.0.0.1:1', name: 'a' }] } },
    },
  });
  return { g, port: Number(new URL(g.url).port) };
}

test('(a) a valid JSON body whose change throws is not reported as invalid JSON', async () => {
  const { g, port } = await gateway();
  try {
    const add = await post(
      port,
      JSON.stringify({ balancer: 'pool', add: { url: 'wss://127.0.0.1:2', tls: null } }),
    );
    assert.doesNotMatch(add.text, /not valid JSON/, add.text);
    // A listener that throws: the change is applied, yet the answer says the JSON was invalid.
    g.tunnel.on('balancer', () => {
      throw new Error('listener bug');
    });
    const set = await post(port, JSON.stringify({ balancer: 'pool', member: 'a', set: { weight: 7 } }));
    assert.equal(g.tunnel.balancers.get('pool')!.member('a')!.weight, 7);
    assert.doesNotMatch(set.text, /not valid JSON/, set.text);
  } finally {
    await g.close(0);
  }
});

test('(b) a rebound Host name is refused by the loopback-only manager', async () => {
  const { g, port } = await gateway();
  try {
    const res = await post(
      port,
      JSON.stringify({ balancer: 'pool', add: { url: 'ws://attacker.example:80', name: 'evil' } }),
      'rebind.attacker.example',
    );
    assert.equal(g.tunnel.balancers.get('pool')!.member('evil'), undefined, 'an attacker member was added');
    assert.equal(res.status, 403);
  } finally {
    await g.close(0);
  }
});
