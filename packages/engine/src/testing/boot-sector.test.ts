import { describe, expect, it } from 'vitest';
import { BOOT_SECTOR_MARKER, buildMarkerBootSector } from './boot-sector.js';

describe('marker boot sector', () => {
  it('is a bootable sector that carries the marker', () => {
    const sector = buildMarkerBootSector();
    expect(sector.length).toBe(512);
    expect(sector.readUInt16LE(510)).toBe(0xaa55);
    const messageOffset = sector.indexOf(BOOT_SECTOR_MARKER);
    // `mov si, imm16` points at the message where the firmware loads the sector (0x7c00)
    expect(sector.readUInt16LE(8)).toBe(0x7c00 + messageOffset);
  });
});
