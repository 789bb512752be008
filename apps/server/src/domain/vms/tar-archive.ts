/** One file of a tar archive. */
export interface TarEntry {
  /** Its path in the archive (at most 100 bytes; longer is cut). */
  name: string;
  bytes: Buffer;
}

const BLOCK = 512;

/**
 * A POSIX ustar archive of regular files (mode 0644, owned by nobody in particular, dated now),
 * ended by two empty blocks: what `tar -x` and every archive tool read.
 */
export function tarArchive(entries: TarEntry[], now = new Date()): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(headerOf(entry, Math.floor(now.getTime() / 1000)), entry.bytes);
    const padding = (BLOCK - (entry.bytes.length % BLOCK)) % BLOCK;
    if (padding > 0) parts.push(Buffer.alloc(padding));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function headerOf(entry: TarEntry, mtime: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  const put = (text: string, offset: number, length: number) =>
    Buffer.from(text, 'utf8').subarray(0, length).copy(header, offset);
  /** A number as the field wants it: octal digits filling all but its last byte. */
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  put(entry.name, 0, 100);
  put(`${octal(0o644, 8)}\0`, 100, 8);
  put(`${octal(0, 8)}\0`, 108, 8);
  put(`${octal(0, 8)}\0`, 116, 8);
  put(`${octal(entry.bytes.length, 12)}\0`, 124, 12);
  put(`${octal(mtime, 12)}\0`, 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return header;
}
