import { describe, expect, it } from 'vitest';
import { RfbClientStream } from './rfb-client-stream.js';

const HANDSHAKE = Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1]), Buffer.from([1])]);
const UPDATE_REQUEST = Buffer.from([3, 0, 0, 0, 0, 0, 4, 0, 3, 0]);
const KEY = Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x61]);
const POINTER = Buffer.from([5, 1, 0, 10, 0, 20]);
const CUT = Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('abc')]);
const ENCODINGS = Buffer.from([2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]);
const QEMU_KEY = Buffer.from([255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e]);

describe('RfbClientStream', () => {
  it('drops input of a view-only viewer and forwards everything else, whatever the chunking', () => {
    const all = Buffer.concat([
      HANDSHAKE,
      ENCODINGS,
      UPDATE_REQUEST,
      KEY,
      POINTER,
      CUT,
      QEMU_KEY,
      UPDATE_REQUEST,
    ]);
    const stream = new RfbClientStream(true);
    const forwarded: Buffer[] = [];
    let input = false;
    for (let offset = 0; offset < all.length; offset += 3) {
      const result = stream.push(all.subarray(offset, offset + 3));
      forwarded.push(result.forward);
      input ||= result.input;
    }
    expect(Buffer.concat(forwarded)).toEqual(
      Buffer.concat([HANDSHAKE, ENCODINGS, UPDATE_REQUEST, UPDATE_REQUEST]),
    );
    expect(input).toBe(true);
  });

  it('forwards input of an interactive viewer and reports it as activity', () => {
    const stream = new RfbClientStream(false);
    expect(stream.push(HANDSHAKE)).toEqual({ forward: HANDSHAKE, input: false });
    expect(stream.push(UPDATE_REQUEST).input).toBe(false);
    expect(stream.push(Buffer.concat([KEY, POINTER]))).toEqual({
      forward: Buffer.concat([KEY, POINTER]),
      input: true,
    });
  });

  it('refuses a message it cannot size', () => {
    const stream = new RfbClientStream(true);
    stream.push(HANDSHAKE);
    expect(() => stream.push(Buffer.from([77, 0, 0]))).toThrow(
      /Unknown RFB client message type 77/,
    );
  });
});
