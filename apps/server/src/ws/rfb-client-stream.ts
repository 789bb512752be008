/** RFB client-to-server message types (RFC 6143 §7.5, plus common extensions). */
const MESSAGE = {
  SET_PIXEL_FORMAT: 0,
  SET_ENCODINGS: 2,
  FRAMEBUFFER_UPDATE_REQUEST: 3,
  KEY_EVENT: 4,
  POINTER_EVENT: 5,
  CLIENT_CUT_TEXT: 6,
  ENABLE_CONTINUOUS_UPDATES: 150,
  CLIENT_FENCE: 248,
  SET_DESKTOP_SIZE: 251,
  QEMU: 255,
} as const;

/** QEMU extension message subtypes. */
const QEMU_EXTENDED_KEY_EVENT = 0;
const QEMU_AUDIO = 1;

/** Handshake bytes the client sends before messages: version (12), security type (1), ClientInit (1). */
const HANDSHAKE_BYTES = [12, 1, 1];

/** What the parser made of a chunk from the client. */
export interface RfbClientChunk {
  /** The bytes to pass on to the VNC server. */
  forward: Buffer;
  /** Whether the chunk held real input (keys, pointer, clipboard). */
  input: boolean;
}

/**
 * Parses the RFB stream a VNC client sends, message by message, so the server can drop the input
 * of a view-only viewer (KeyEvent, PointerEvent, ClientCutText, QEMU's extended key event) while
 * passing on everything that only asks for pixels. Throws on a message it cannot size, since it
 * then cannot tell input from the rest; the caller closes the connection.
 */
export class RfbClientStream {
  #pending: Buffer = Buffer.alloc(0);
  #handshakeStep = 0;

  constructor(private readonly dropInput: boolean) {}

  /** Feeds bytes from the client; returns what to forward and whether input was seen. */
  push(chunk: Buffer): RfbClientChunk {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const forward: Buffer[] = [];
    let input = false;
    for (;;) {
      const size = this.#nextMessageSize();
      if (size === undefined || this.#pending.length < size) break;
      const message = this.#pending.subarray(0, size);
      this.#pending = this.#pending.subarray(size);
      const isInput = this.#handshakeStep >= HANDSHAKE_BYTES.length && isInputMessage(message);
      if (this.#handshakeStep < HANDSHAKE_BYTES.length) this.#handshakeStep++;
      input ||= isInput;
      if (!(isInput && this.dropInput)) forward.push(message);
    }
    return { forward: Buffer.concat(forward), input };
  }

  /** The size of the message at the head of the buffer, or undefined while too little has arrived. */
  #nextMessageSize(): number | undefined {
    if (this.#handshakeStep < HANDSHAKE_BYTES.length) return HANDSHAKE_BYTES[this.#handshakeStep];
    const buffer = this.#pending;
    if (buffer.length < 1) return undefined;
    const need = (bytes: number, size: () => number) =>
      buffer.length < bytes ? undefined : size();
    switch (buffer[0]) {
      case MESSAGE.SET_PIXEL_FORMAT:
        return 20;
      case MESSAGE.SET_ENCODINGS:
        return need(4, () => 4 + 4 * buffer.readUInt16BE(2));
      case MESSAGE.FRAMEBUFFER_UPDATE_REQUEST:
        return 10;
      case MESSAGE.KEY_EVENT:
        return 8;
      case MESSAGE.POINTER_EVENT:
        return 6;
      case MESSAGE.CLIENT_CUT_TEXT:
        return need(8, () => 8 + buffer.readUInt32BE(4));
      case MESSAGE.ENABLE_CONTINUOUS_UPDATES:
        return 10;
      case MESSAGE.CLIENT_FENCE:
        return need(9, () => 9 + buffer.readUInt8(8));
      case MESSAGE.SET_DESKTOP_SIZE:
        return need(8, () => 8 + 16 * buffer.readUInt8(6));
      case MESSAGE.QEMU:
        return need(4, () => qemuMessageSize(buffer));
      default:
        throw new Error(`Unknown RFB client message type ${buffer[0]}`);
    }
  }
}

function qemuMessageSize(buffer: Buffer): number {
  const subtype = buffer[1];
  if (subtype === QEMU_EXTENDED_KEY_EVENT) return 12;
  if (subtype === QEMU_AUDIO) {
    const operation = buffer.readUInt16BE(2);
    return operation === 2 ? 10 : 4;
  }
  throw new Error(`Unknown QEMU RFB message subtype ${subtype}`);
}

function isInputMessage(message: Buffer): boolean {
  const type = message[0];
  if (
    type === MESSAGE.KEY_EVENT ||
    type === MESSAGE.POINTER_EVENT ||
    type === MESSAGE.CLIENT_CUT_TEXT
  )
    return true;
  return type === MESSAGE.QEMU && message[1] === QEMU_EXTENDED_KEY_EVENT;
}
