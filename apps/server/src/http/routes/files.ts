import path from 'node:path';
import { MAX_GUEST_FILE_BYTES } from '@labvisor/engine';
import type { LabFiles } from '../../domain/vms/lab-files.js';
import { readBinaryBody } from '../binary-body.js';
import { ANSWERED, type Handlers } from '../router.js';

/** Files in and out of labs: `/api/v1/vms/:vmId/files`, a class's handout and collection. */
export function fileHandlers(
  files: LabFiles,
): Handlers<'readLabFile' | 'writeLabFile' | 'handoutFile' | 'collectFiles'> {
  return {
    readLabFile: async ({ params, query }, { actor, res, ip }) => {
      const bytes = await files.read(actor, params.vmId, query.path, ip);
      res.attachment(path.posix.basename(query.path)).type('application/octet-stream').send(bytes);
      return ANSWERED;
    },
    writeLabFile: async ({ params, query }, { actor, req, ip }) => {
      const bytes = await readBinaryBody(req, MAX_GUEST_FILE_BYTES, 'A file moved into a lab');
      await files.write(actor, params.vmId, query.path, bytes, ip);
    },
    handoutFile: async ({ params, query }, { actor, req, ip }) => {
      const bytes = await readBinaryBody(req, MAX_GUEST_FILE_BYTES, 'A file handed out');
      const { delivered, refused } = await files.handout(
        actor,
        params.tenantId,
        query.path,
        bytes,
        ip,
      );
      const lab = (vm: { id: string; name: string; owner_id: string | null }) => ({
        vmId: vm.id,
        name: vm.name,
        ownerId: vm.owner_id ?? '',
      });
      return {
        delivered: delivered.map(lab),
        refused: refused.map(({ vm, reason }) => ({ ...lab(vm), reason })),
      };
    },
    collectFiles: async ({ params, query }, { actor, res, ip }) => {
      const archive = await files.collect(actor, params.tenantId, query.path, ip);
      res
        .attachment(`${path.posix.basename(query.path)}-collected.tar`)
        .type('application/x-tar')
        .send(archive);
      return ANSWERED;
    },
  };
}
