// Why: which members a balancer may pick from follows Apache's rules for lbsets, spares, standbys and drains.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  candidates,
  type MemberFlags,
  type MemberState,
} from '../../packages/core/src/balancer/candidates.ts';

interface Named extends MemberState {
  readonly name: string;
}

function m(name: string, lbset = 0, flags: MemberFlags = {}, errorUntil = 0): Named {
  return { name, lbset, flags, errorUntil };
}

const names = (members: readonly Named[]): string[] => members.map((member) => member.name);

describe('balancer candidates', () => {
  test('the lowest lbset with a usable member is the only one used', () => {
    assert.deepEqual(names(candidates([m('a', 1), m('b', 0), m('c', 0)], 0)), ['b', 'c']);
  });
  test('an lbset whose members are all unusable gives way to the next', () => {
    const members = [m('a', 0, { disabled: true }), m('b', 0, { stopped: true }), m('c', 1)];
    assert.deepEqual(names(candidates(members, 0)), ['c']);
  });
  test('a member in error is skipped until its retry time, then usable again', () => {
    const members = [m('a', 0, {}, 1_000), m('b', 0)];
    assert.deepEqual(names(candidates(members, 500)), ['b']);
    assert.deepEqual(names(candidates(members, 1_000)), ['a', 'b']);
    assert.equal(members[0]!.errorUntil, 0);
  });
  test('ignore-errors keeps a member in error usable', () => {
    assert.deepEqual(names(candidates([m('a', 0, { ignoreErrors: true }, 9_999)], 0)), ['a']);
  });
  test('hot spares stand in one for one for unusable members of their lbset', () => {
    const members = [
      m('a', 0, { disabled: true }),
      m('b', 0),
      m('s1', 0, { spare: true }),
      m('s2', 0, { spare: true }),
    ];
    assert.deepEqual(names(candidates(members, 0)), ['b', 's1']);
    assert.deepEqual(names(candidates([m('b', 0), m('s1', 0, { spare: true })], 0)), ['b']);
  });
  test('hot standbys are used only when nothing else of their lbset is usable, and give way when it is again', () => {
    const a = m('a', 0, { healthFailed: true });
    const members = [a, m('h', 0, { standby: true })];
    assert.deepEqual(names(candidates(members, 0)), ['h']);
    a.flags.healthFailed = false;
    assert.deepEqual(names(candidates(members, 0)), ['a']);
  });
  test('a lbset tries its own standbys before the next lbset (Apache 2.4.34+)', () => {
    const members = [m('a', 0, { stopped: true }), m('h0', 0, { standby: true }), m('b', 1)];
    assert.deepEqual(names(candidates(members, 0)), ['h0']);
  });
  test('draining the only member of a lbset brings in its hot spare (draining counts as unusable)', () => {
    const members = [m('a', 0, { draining: true }), m('s', 0, { spare: true })];
    assert.deepEqual(names(candidates(members, 0)), ['s']);
  });
  test('a draining member takes no new session', () => {
    assert.deepEqual(names(candidates([m('a', 0, { draining: true }), m('b', 1)], 0)), ['b']);
    assert.deepEqual(names(candidates([m('a', 0, { draining: true })], 0)), []);
  });
});
