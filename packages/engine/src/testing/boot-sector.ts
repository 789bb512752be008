/** What the marker boot sector prints on its serial port. */
export const BOOT_SECTOR_MARKER = 'LABVISOR-PROBE-OK';

/**
 * A 512-byte boot sector that writes {@link BOOT_SECTOR_MARKER} to COM1 (port 0x3f8) and halts:
 * a guest that any disk or ISO boot can carry, for tests of boot kinds and uploaded images. The
 * firmware loads it at 0x7c00.
 */
export function buildMarkerBootSector(): Buffer {
  const code = [
    0x31,
    0xc0, //          xor ax, ax
    0x8e,
    0xd8, //          mov ds, ax
    0xba,
    0xf8,
    0x03, //    mov dx, 0x3f8
    0xbe,
    0x16,
    0x7c, //    mov si, 0x7c16 (the message)
    0xac, //                next: lodsb
    0x84,
    0xc0, //          test al, al
    0x74,
    0x03, //          jz done
    0xee, //                out dx, al
    0xeb,
    0xf8, //          jmp next
    0xfa, //                done: cli
    0xf4, //                hlt
    0xeb,
    0xfd, //          jmp hlt
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector, 0);
  Buffer.from(`${BOOT_SECTOR_MARKER}\n\0`, 'latin1').copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}
