// Why: close frames are only injected at frame boundaries, so the cursor must find every boundary however frames are split.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closeFrame, FrameCursor } from '../../packages/core/src/frame-cursor.ts';

function frame(payloadLength: number, masked: boolean): Buffer {
  const header =
    payloadLength < 126
      ? Buffer.from([0x82, payloadLength])
      : payloadLength < 65_536
        ? Buffer.from([0x82, 126, payloadLength >> 8, payloadLength & 0xff])
        : Buffer.concat([
            Buffer.from([0x82, 127]),
            Buffer.from(new BigUint64Array([BigInt(payloadLength)]).buffer).reverse(),
          ]);
  if (masked) header[1]! |= 0x80;
  return Buffer.concat([
    header,
    masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0),
    Buffer.alloc(payloadLength, 9),
  ]);
}

describe('FrameCursor', () => {
  for (const masked of [false, true]) {
    test(`finds boundaries of ${masked ? 'masked' : 'unmasked'} frames of 7-, 16- and 64-bit lengths split at every byte`, () => {
      const frames = [frame(0, masked), frame(5, masked), frame(300, masked), frame(70_000, masked)];
      const stream = Buffer.concat(frames);
      const boundaries = new Set<number>();
      let offset = 0;
      for (const f of frames) {
        offset += f.length;
        boundaries.add(offset);
      }
      for (const split of [1, 2, 3, 7, 13, 1000]) {
        const cursor = new FrameCursor();
        for (let at = 0; at < stream.length; at += split) {
          cursor.advance(stream.subarray(at, Math.min(at + split, stream.length)), false);
          const end = Math.min(at + split, stream.length);
          assert.equal(cursor.atBoundary, boundaries.has(end), `split ${split}, after byte ${end}`);
        }
      }
    });
  }

  test('stops at the first boundary when asked, and at 0 when already on one', () => {
    const cursor = new FrameCursor();
    const two = Buffer.concat([frame(3, false), frame(4, false)]);
    assert.equal(cursor.advance(two, true), 0);
    cursor.advance(two.subarray(0, 2), false);
    assert.equal(cursor.advance(two.subarray(2), true), 3);
    assert.ok(cursor.atBoundary);
  });

  test('close frames carry 1001 and are masked only when the client side would send them', () => {
    const toClient = closeFrame(false);
    assert.equal(toClient[0], 0x88);
    assert.equal(toClient[1]! & 0x80, 0);
    assert.equal(toClient.readUInt16BE(2), 1001);
    const toBackend = closeFrame(true);
    assert.equal(toBackend[1]! & 0x80, 0x80);
    const mask = toBackend.subarray(2, 6);
    const code = ((toBackend[6]! ^ mask[0]!) << 8) | (toBackend[7]! ^ mask[1]!);
    assert.equal(code, 1001);
  });
});
