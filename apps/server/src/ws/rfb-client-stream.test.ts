import { describe, expect, it, vi } from 'vitest';
import { MAX_CLIENT_CUT_TEXT_BYTES, RfbClientStream } from './rfb-client-stream.js';

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

  it('accepts RFB 3.7 and 3.8 only: a 3.3 client would desynchronise the filter', () => {
    expect(() => new RfbClientStream(true).push(Buffer.from('RFB 003.003\n'))).toThrow(
      /Only RFB 3.7 and 3.8/,
    );
    const v37 = Buffer.concat([Buffer.from('RFB 003.007\n'), Buffer.from([1, 1])]);
    expect(new RfbClientStream(true).push(v37).forward).toEqual(v37);
  });

  it('always asks QEMU for a shared session, so no viewer can disconnect the others', () => {
    const exclusive = Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 0])]);
    expect(new RfbClientStream(false).push(exclusive).forward).toEqual(HANDSHAKE);
  });

  it('sizes extended clipboard messages (negative length) and refuses clipboards above 1 MiB', () => {
    const extended = Buffer.alloc(8 + 12);
    extended[0] = 6;
    extended.writeInt32BE(-12, 4);
    const stream = new RfbClientStream(true);
    stream.push(HANDSHAKE);
    expect(stream.push(Buffer.concat([extended, UPDATE_REQUEST]))).toEqual({
      forward: UPDATE_REQUEST,
      input: true,
    });
    const huge = Buffer.from([6, 0, 0, 0, 0, 0, 0, 0]);
    huge.writeUInt32BE(MAX_CLIENT_CUT_TEXT_BYTES + 1, 4);
    expect(() => stream.push(huge)).toThrow(/Clipboard text of 1048577 bytes/);
    const negativeHuge = Buffer.from([6, 0, 0, 0, 0, 0, 0, 0]);
    negativeHuge.writeInt32BE(-0x7fffffff, 4);
    expect(() => new RfbClientStream(false).push(Buffer.concat([HANDSHAKE, negativeHuge]))).toThrow(
      /Clipboard text/,
    );
  });

  it('copies a large message arriving in small frames about once, not once per frame', () => {
    const text = Buffer.alloc(MAX_CLIENT_CUT_TEXT_BYTES, 0x61);
    const header = Buffer.from([6, 0, 0, 0, 0, 0, 0, 0]);
    header.writeUInt32BE(text.length, 4);
    const message = Buffer.concat([header, text]);
    const stream = new RfbClientStream(false);
    stream.push(HANDSHAKE);
    const concat = vi.spyOn(Buffer, 'concat');
    let forwarded = 0;
    try {
      for (let offset = 0; offset < message.length; offset += 4096) {
        forwarded += stream.push(message.subarray(offset, offset + 4096)).forward.length;
      }
      const copied = concat.mock.results.reduce(
        (sum, result) => sum + (result.value as Buffer).length,
        0,
      );
      expect(forwarded).toBe(message.length);
      expect(copied).toBeLessThan(3 * message.length);
    } finally {
      concat.mockRestore();
    }
  });
});
