// Why: the balancer's methods must distribute as Apache's mod_lbmethod_* do, before sockets are involved.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  byBusyness,
  byRequests,
  byTraffic,
  type MemberLoad,
} from '../../packages/core/src/balancer/lb-methods.ts';

function member(weight: number, busy = 0, bytes = 0): MemberLoad & { busy: number; bytes: number } {
  return { weight, credit: 0, busy, bytes };
}

describe('byrequests', () => {
  test('weights 5,1,1 give the smooth sequence a a b a c a a, repeated', () => {
    const [a, b, c] = [member(5), member(1), member(1)];
    const names = new Map([
      [a, 'a'],
      [b, 'b'],
      [c, 'c'],
    ]);
    const picks = Array.from({ length: 14 }, () => names.get(byRequests([a, b, c])!)).join('');
    assert.equal(picks, 'aabacaaaabacaa');
  });
  test('1000 picks over weights 1,2,3 land exactly in proportion', () => {
    const members = [member(1), member(2), member(3)];
    const counts = new Map(members.map((m) => [m, 0]));
    for (let i = 0; i < 600; i++) {
      const chosen = byRequests(members)!;
      counts.set(chosen, counts.get(chosen)! + 1);
    }
    assert.deepEqual([...counts.values()], [100, 200, 300]);
  });
  test('no member, no pick', () => {
    assert.equal(byRequests([]), undefined);
  });
});

describe('bybusyness', () => {
  test('the member with the fewest open tunnels wins, whatever its weight', () => {
    const [a, b] = [member(100, 3), member(1, 1)];
    assert.equal(byBusyness([a, b]), b);
  });
  test('ties on open tunnels follow the byrequests credit', () => {
    const members = [member(1), member(1), member(1)];
    const seen = new Set(Array.from({ length: 3 }, () => byBusyness(members)));
    assert.equal(seen.size, 3);
  });
});

describe('bytraffic', () => {
  test('the fewest bytes per unit of weight wins', () => {
    const [a, b] = [member(2, 0, 3000), member(1, 0, 2000)];
    assert.equal(byTraffic([a, b]), a);
    b.bytes = 1000;
    assert.equal(byTraffic([a, b]), b);
  });
});
