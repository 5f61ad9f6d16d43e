// Why: the balancer-manager is an HTTP contract (JSON page, POST changes, refusals with statuses) served by the
// gateway to loopback clients only, and mountable anywhere; it must never throw on hostile input.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import { startGateway } from '@wstunnel/cli';
import type { ManagerPage } from '@wstunnel/core';
import { startEchoBackend } from '../helpers/backends.ts';
import { cleanupAfterEach } from '../helpers/cleanup.ts';

const defer = cleanupAfterEach();

async function managed(allow?: () => boolean) {
  const backend = await startEchoBackend();
  const gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    tunnel: {
      rules: [{ path: '/ws/', target: 'balancer://pool/' }],
      balancers: { pool: { members: [{ url: backend.origin, name: 'one' }] } },
    },
    manager: { path: '/balancer-manager', ...(allow === undefined ? {} : { allow }) },
  });
  defer(
    () => gateway.close(0),
    () => backend.close(),
  );
  return { gateway, backend };
}

function call(
  url: string,
  method: string,
  body?: string,
  type = 'application/json',
): Promise<{ status: number; json: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: body === undefined ? {} : { 'content-type': type } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('balancer-manager', () => {
  test('GET shows every balancer and member; POST changes a member and answers the new page', async () => {
    const { gateway } = await managed();
    const url = `${gateway.url}/balancer-manager`;
    const page = (await call(url, 'GET')).json as ManagerPage;
    assert.equal(page.balancers[0]!.name, 'pool');
    assert.equal(page.balancers[0]!.members[0]!.status, 'Ok');
    const changed = await call(
      url,
      'POST',
      JSON.stringify({ balancer: 'pool', member: 'one', set: { weight: 7, status: { draining: true } } }),
    );
    assert.equal(changed.status, 200);
    const member = (changed.json as ManagerPage).balancers[0]!.members[0]!;
    assert.equal(member.weight, 7);
    assert.equal(member.status, 'N');
    const added = await call(
      url,
      'POST',
      JSON.stringify({ balancer: 'POOL', add: { url: 'ws://127.0.0.1:1', name: 'two' } }),
    );
    assert.equal((added.json as ManagerPage).balancers[0]!.members.length, 2);
    const removed = await call(
      url,
      'POST',
      JSON.stringify({ balancer: 'pool', member: 'two', remove: true }),
    );
    assert.equal((removed.json as ManagerPage).balancers[0]!.members.length, 1);
  });

  test('hostile or wrong requests get a status, never a crash or a change', async () => {
    const { gateway } = await managed();
    const url = `${gateway.url}/balancer-manager`;
    const cases: [string, string | undefined, string | undefined, number][] = [
      ['PUT', undefined, undefined, 405],
      ['POST', '{"balancer":"pool","member":"one","set":{"weight":7}}', 'text/plain', 415],
      ['POST', '{not json', undefined, 400],
      ['POST', 'null', undefined, 400],
      ['POST', '{"balancer":"nope","member":"one","set":{}}', undefined, 404],
      ['POST', '{"balancer":"pool","member":"nope","set":{}}', undefined, 404],
      ['POST', '{"balancer":"pool","member":"one","set":{"weight":0}}', undefined, 400],
      ['POST', '{"balancer":"pool","member":"one","set":{"status":{"__proto__":{"x":1}}}}', undefined, 400],
      ['POST', '{"balancer":"pool","member":"one","set":{},"remove":true}', undefined, 400],
      ['POST', '{"balancer":"pool","member":"one","remove":true}', undefined, 400],
      ['POST', '{"balancer":"pool","add":{"url":"ftp://x"}}', undefined, 400],
      ['POST', JSON.stringify({ balancer: 'pool', pad: 'x'.repeat(20_000) }), undefined, 413],
    ];
    for (const [method, body, type, status] of cases) {
      const answer = await call(url, method, body, type);
      assert.equal(answer.status, status, `${method} ${body?.slice(0, 60)}: ${answer.text}`);
    }
    const page = (await call(url, 'GET')).json as ManagerPage;
    assert.equal(page.balancers[0]!.members[0]!.weight, 1);
    assert.equal(page.balancers[0]!.members.length, 1);
  });

  test('only clients `allow` lets in reach it; the rules still serve other paths', async () => {
    const { gateway } = await managed(() => false);
    assert.equal((await call(`${gateway.url}/balancer-manager`, 'GET')).status, 403);
    assert.equal((await call(`${gateway.url}/elsewhere`, 'GET')).status, 404);
  });
});
