/**
 * Builds a small bootable ISO 9660 image in memory: a primary volume descriptor with an empty root
 * directory, and an El Torito "no emulation" boot entry whose 2048-byte boot image is loaded at
 * 0000:7C00 by the firmware (SeaBIOS), as an installer CD's is. Enough for a test to upload an ISO
 * and boot a VM from it without genisoimage or xorriso.
 */

const SECTOR = 2048;
const PRIMARY_VOLUME_SECTOR = 16;
const BOOT_RECORD_SECTOR = 17;
const TERMINATOR_SECTOR = 18;
const BOOT_CATALOG_SECTOR = 19;
const BOOT_IMAGE_SECTOR = 20;
const ROOT_DIRECTORY_SECTOR = 21;
const TOTAL_SECTORS = 22;

/** A bootable ISO whose El Torito boot image starts with `bootCode` (at most one sector). */
export function buildBootableIso(bootCode: Buffer, volumeId = 'LABVISOR_TEST'): Buffer {
  if (bootCode.length > SECTOR) throw new Error('the boot code must fit in one 2048-byte sector');
  const iso = Buffer.alloc(TOTAL_SECTORS * SECTOR);
  const sector = (index: number) => iso.subarray(index * SECTOR, (index + 1) * SECTOR);

  const primary = sector(PRIMARY_VOLUME_SECTOR);
  writeDescriptorHeader(primary, 1);
  primary.write(' '.repeat(32), 8, 'latin1');
  primary.write(volumeId.padEnd(32, ' ').slice(0, 32), 40, 'latin1');
  writeBothEndian32(primary, 80, TOTAL_SECTORS);
  writeBothEndian16(primary, 120, 1); // volume set size
  writeBothEndian16(primary, 124, 1); // volume sequence number
  writeBothEndian16(primary, 128, SECTOR); // logical block size
  writeDirectoryRecord(primary, 156, ROOT_DIRECTORY_SECTOR, 0);
  primary[881] = 1; // file structure version

  const bootRecord = sector(BOOT_RECORD_SECTOR);
  writeDescriptorHeader(bootRecord, 0);
  bootRecord.write('EL TORITO SPECIFICATION', 7, 'latin1');
  bootRecord.writeUInt32LE(BOOT_CATALOG_SECTOR, 71);

  writeDescriptorHeader(sector(TERMINATOR_SECTOR), 255);

  const catalog = sector(BOOT_CATALOG_SECTOR);
  catalog[0] = 1; // validation entry, platform 0 (x86)
  catalog.write('LABVISOR', 4, 'latin1');
  catalog[30] = 0x55;
  catalog[31] = 0xaa;
  let sum = 0;
  for (let offset = 0; offset < 32; offset += 2) sum += catalog.readUInt16LE(offset);
  catalog.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, 28);
  catalog[32] = 0x88; // bootable, no emulation, default load segment (0x7C0)
  catalog.writeUInt16LE(SECTOR / 512, 32 + 6); // virtual 512-byte sectors to load
  catalog.writeUInt32LE(BOOT_IMAGE_SECTOR, 32 + 8);

  bootCode.copy(sector(BOOT_IMAGE_SECTOR));

  const root = sector(ROOT_DIRECTORY_SECTOR);
  writeDirectoryRecord(root, 0, ROOT_DIRECTORY_SECTOR, 0); // "."
  writeDirectoryRecord(root, 34, ROOT_DIRECTORY_SECTOR, 1); // ".."
  return iso;
}

function writeDescriptorHeader(descriptor: Buffer, type: number): void {
  descriptor[0] = type;
  descriptor.write('CD001', 1, 'latin1');
  descriptor[6] = 1;
}

function writeDirectoryRecord(target: Buffer, offset: number, extent: number, id: number): void {
  target[offset] = 34;
  writeBothEndian32(target, offset + 2, extent);
  writeBothEndian32(target, offset + 10, SECTOR);
  target[offset + 25] = 0x02; // a directory
  writeBothEndian16(target, offset + 28, 1);
  target[offset + 32] = 1;
  target[offset + 33] = id;
}

function writeBothEndian32(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value, offset);
  target.writeUInt32BE(value, offset + 4);
}

function writeBothEndian16(target: Buffer, offset: number, value: number): void {
  target.writeUInt16LE(value, offset);
  target.writeUInt16BE(value, offset + 2);
}
