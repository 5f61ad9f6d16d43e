/**
 * Why: consistent hashing (beyond Apache) sends one key to one member, and when a member leaves only its own keys
 * move. Weighted rendezvous hashing does that with no ring to rebuild when weights or members change.
 */

import type { IncomingMessage } from 'node:http';
import { configError } from '../errors.ts';
import type { HashKey } from './balancer-options.ts';
import { cookieValue } from './sticky.ts';

/** The key of `req` for `by`, or `undefined` when the request has none (the balancer then uses byrequests). */
export function hashKey(by: HashKey, req: IncomingMessage): string | undefined {
  if (by.hash === 'address') return req.socket.remoteAddress;
  if (by.hash === 'header') {
    const value = req.headers[by.name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  return cookieValue(req.headers.cookie, by.name);
}

/** Validates a hash key option and lower-cases a header name. */
export function resolveHashKey(by: HashKey, where: string): HashKey {
  if (by.hash === 'address') return by;
  if ((by.hash !== 'header' && by.hash !== 'cookie') || typeof by.name !== 'string' || by.name === '')
    configError(
      'ERR_WSTUNNEL_INVALID_BALANCER',
      `${where}: method must be 'byrequests', 'bytraffic', 'bybusyness', a function, or { hash: 'header' | 'cookie', name } or { hash: 'address' }`,
    );
  return by.hash === 'header' ? { hash: 'header', name: by.name.toLowerCase() } : by;
}

/** The member with the highest weighted score for `key` (score = -weight / ln(u), u uniform in (0, 1) from the hash). */
export function rendezvous<Member extends { readonly name: string; readonly weight: number }>(
  members: readonly Member[],
  key: string,
): Member | undefined {
  let best: Member | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const member of members) {
    const unit = (fnv1a(`${member.name}\0${key}`) + 0.5) / 4_294_967_296;
    const score = -member.weight / Math.log(unit);
    if (score > bestScore) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}

/** 32-bit FNV-1a over UTF-16 code units, finished with a murmur3 mix so close keys spread. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
