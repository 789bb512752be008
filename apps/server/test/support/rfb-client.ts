import WebSocket from 'ws';

const KEYSYM_RETURN = 0xff0d;
const KEY_INTERVAL_MS = 30;

/**
 * A minimal RFB client over the console WebSocket, as noVNC speaks it: handshake with no
 * authentication, then key events. Enough to type into the guest's VGA console.
 */
export class RfbTestClient {
  #buffer = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  closed = false;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.#buffer = Buffer.concat([this.#buffer, data as Buffer]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /**
   * Opens the VNC console at `url` (with its ticket) and completes the RFB handshake; `shared:
   * false` asks for exclusive access, as a VNC client may, to disconnect every other viewer.
   */
  static async connect(
    baseUrl: string,
    url: string,
    cookie: string,
    options: { shared?: boolean } = {},
  ): Promise<RfbTestClient> {
    const socket = new WebSocket(baseUrl.replace(/^http/, 'ws') + url, {
      headers: { cookie },
      origin: baseUrl,
    });
    const client = new RfbTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
    const version = await client.#read(12);
    if (!version.toString().startsWith('RFB 003.')) throw new Error(`not RFB: ${version}`);
    client.#send(Buffer.from('RFB 003.008\n'));
    const count = (await client.#read(1))[0]!;
    const types = [...(await client.#read(count))];
    if (!types.includes(1)) throw new Error(`no "None" security type offered: ${types}`);
    client.#send(Buffer.from([1]));
    const result = await client.#read(4);
    if (result.readUInt32BE(0) !== 0) throw new Error('RFB security handshake failed');
    client.#send(Buffer.from([options.shared === false ? 0 : 1])); // ClientInit
    const init = await client.#read(24);
    await client.#read(init.readUInt32BE(20)); // desktop name
    return client;
  }

  /**
   * Types lowercase letters, digits and spaces, then Return, at a person's pace: QEMU's PS/2
   * keyboard has a short queue and drops keys sent all at once.
   */
  async typeLine(text: string): Promise<void> {
    for (const keysym of [...[...text].map((char) => char.charCodeAt(0)), KEYSYM_RETURN]) {
      this.#key(keysym);
      await new Promise((resolve) => setTimeout(resolve, KEY_INTERVAL_MS));
    }
  }

  close(): void {
    this.socket.close();
  }

  #key(keysym: number): void {
    for (const down of [1, 0]) {
      const message = Buffer.alloc(8);
      message[0] = 4;
      message[1] = down;
      message.writeUInt32BE(keysym, 4);
      this.#send(message);
    }
  }

  #send(bytes: Buffer): void {
    this.socket.send(bytes, { binary: true });
  }

  async #read(length: number): Promise<Buffer> {
    while (this.#buffer.length < length) {
      if (this.closed) throw new Error('VNC socket closed');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    const head = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return head;
  }
}
