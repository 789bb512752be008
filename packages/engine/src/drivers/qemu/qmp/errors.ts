/** Base class of every QMP client error. */
export class QmpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QmpError';
  }
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends QmpError {
  readonly command: string;
  readonly errorClass: string;
  readonly desc: string;

  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP command ${command} failed: ${desc} (${errorClass})`);
    this.name = 'QmpCommandError';
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

/** A command got no reply in time; the monitor itself is still connected. */
export class QmpTimeoutError extends QmpError {
  readonly command: string;
  readonly timeoutMs: number;

  constructor(command: string, timeoutMs: number) {
    super(`QMP command ${command} got no reply within ${timeoutMs} ms`);
    this.name = 'QmpTimeoutError';
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}

/** The monitor connection is gone (QEMU exited or closed the socket): different from a timeout. */
export class QmpDisconnectedError extends QmpError {
  constructor(message = 'QMP monitor connection lost', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QmpDisconnectedError';
  }
}

/** QEMU sent something that is not QMP (bad greeting, invalid JSON). */
export class QmpProtocolError extends QmpError {
  constructor(message: string) {
    super(message);
    this.name = 'QmpProtocolError';
  }
}
