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
/** The client versions accepted: 3.3 has no security-type byte, so its stream would be misread. */
const ACCEPTED_VERSIONS = new Set(['RFB 003.007\n', 'RFB 003.008\n']);
/** The largest clipboard text passed on (QEMU refuses more). */
export const MAX_CLIENT_CUT_TEXT_BYTES = 1024 * 1024;

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
 * passing on everything that only asks for pixels. It accepts RFB 3.7 and 3.8 only, always asks
 * for a shared session (a viewer cannot disconnect the others), and bounds what it buffers: a
 * clipboard message above {@link MAX_CLIENT_CUT_TEXT_BYTES} is refused. Throws on anything it
 * cannot size or accept, since it then cannot tell input from the rest; the caller closes the
 * connection.
 */
export class RfbClientStream {
  /** Bytes received and not yet parsed, as they came (joined only when a whole message is in). */
  #chunks: Buffer[] = [];
  #pendingBytes = 0;
  #handshakeStep = 0;

  constructor(private readonly dropInput: boolean) {}

  /** Feeds bytes from the client; returns what to forward and whether input was seen. */
  push(chunk: Buffer): RfbClientChunk {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#pendingBytes += chunk.length;
    }
    const forward: Buffer[] = [];
    let input = false;
    for (;;) {
      const size = this.#nextMessageSize();
      if (size === undefined || this.#pendingBytes < size) break;
      const message = this.#take(size);
      const step = this.#handshakeStep;
      if (step < HANDSHAKE_BYTES.length) {
        this.#handshakeStep++;
        forward.push(acceptHandshake(step, message));
        continue;
      }
      const isInput = isInputMessage(message);
      input ||= isInput;
      if (!(isInput && this.dropInput)) forward.push(message);
    }
    return { forward: Buffer.concat(forward), input };
  }

  /** The first `bytes` pending bytes (fewer if fewer arrived), joined. */
  #peek(bytes: number): Buffer {
    const head = this.#chunks[0];
    if (head && head.length >= bytes) return head.subarray(0, bytes);
    return Buffer.concat(this.#chunks).subarray(0, bytes);
  }

  /** Removes and returns the first `size` pending bytes (there are at least that many). */
  #take(size: number): Buffer {
    const joined = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const message = joined.subarray(0, size);
    const rest = joined.subarray(size);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return message;
  }

  /** The size of the message at the head of the buffer, or undefined while too little has arrived. */
  #nextMessageSize(): number | undefined {
    if (this.#handshakeStep < HANDSHAKE_BYTES.length) return HANDSHAKE_BYTES[this.#handshakeStep];
    if (this.#pendingBytes < 1) return undefined;
    const header = this.#peek(9);
    const need = (bytes: number, size: () => number) =>
      header.length < bytes ? undefined : size();
    switch (header[0]) {
      case MESSAGE.SET_PIXEL_FORMAT:
        return 20;
      case MESSAGE.SET_ENCODINGS:
        return need(4, () => 4 + 4 * header.readUInt16BE(2));
      case MESSAGE.FRAMEBUFFER_UPDATE_REQUEST:
        return 10;
      case MESSAGE.KEY_EVENT:
        return 8;
      case MESSAGE.POINTER_EVENT:
        return 6;
      case MESSAGE.CLIENT_CUT_TEXT:
        return need(8, () => 8 + clientCutTextBytes(header.readInt32BE(4)));
      case MESSAGE.ENABLE_CONTINUOUS_UPDATES:
        return 10;
      case MESSAGE.CLIENT_FENCE:
        return need(9, () => 9 + header.readUInt8(8));
      case MESSAGE.SET_DESKTOP_SIZE:
        return need(8, () => 8 + 16 * header.readUInt8(6));
      case MESSAGE.QEMU:
        return need(4, () => qemuMessageSize(header));
      default:
        throw new Error(`Unknown RFB client message type ${header[0]}`);
    }
  }
}

/**
 * Checks a handshake message and returns what to forward: the version must be 3.7 or 3.8, and
 * ClientInit always asks for a shared session.
 */
function acceptHandshake(step: number, message: Buffer): Buffer {
  if (step === 0 && !ACCEPTED_VERSIONS.has(message.toString('latin1'))) {
    throw new Error('Only RFB 3.7 and 3.8 clients are accepted');
  }
  if (step === 2) return Buffer.from([1]);
  return message;
}

/**
 * The payload size of a ClientCutText: its length field is signed, a negative one announcing the
 * extended clipboard format with that many bytes. Above the cap the message is refused.
 */
function clientCutTextBytes(length: number): number {
  const bytes = Math.abs(length);
  if (bytes > MAX_CLIENT_CUT_TEXT_BYTES) {
    throw new Error(`Clipboard text of ${bytes} bytes is above ${MAX_CLIENT_CUT_TEXT_BYTES}`);
  }
  return bytes;
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
