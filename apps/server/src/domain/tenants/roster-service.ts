import {
  emailSchema,
  MAX_ROSTER_ROWS,
  type RosterImport,
  type RosterRow,
  rosterOutcomeSchema,
  TENANT_ROLES,
  type TenantRole,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { upsertMembership } from '../../db/queries/tenants.js';
import { insertUser, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { type Actor, requireRole } from '../auth/access.js';
import { createSignInLink } from '../auth/sign-in-links.js';
import { parseCsv } from './csv.js';

/** A row as read from the CSV, before the database is asked. */
interface ReadRow {
  line: number;
  email: string;
  name: string;
  role: TenantRole | null;
  refused?: string;
}

/**
 * Roster imports (tenant admins): a CSV of email, name and optional role becomes accounts and
 * memberships in one transaction. New accounts get no password but a one-time sign-in link; a
 * row that cannot be taken is refused with its reason, and the others go in. A preview
 * (`dryRun`) answers the same rows and changes nothing.
 */
export class RosterService {
  constructor(private readonly knex: Knex) {}

  async import(
    actor: Actor,
    tenantId: string,
    csv: string,
    options: { dryRun: boolean; ip: string | undefined },
  ): Promise<RosterImport> {
    requireRole(actor, tenantId, 'admin');
    const read = readRows(csv);
    return this.knex.transaction(async (trx) => {
      // One import at a time per tenant, so two cannot both create the same account.
      await trx('tenants').where({ id: tenantId }).forUpdate().first('id');
      // Who exists and who is a member already, in two queries for the whole file.
      const emails = read.flatMap((row) => (row.refused ? [] : [row.email]));
      const users = await trx<UserRow>('users').whereIn('email', emails);
      const roles = new Map(
        (
          await trx('memberships')
            .where({ tenant_id: tenantId })
            .whereIn(
              'user_id',
              users.map((user) => user.id),
            )
            .select<{ user_id: string; role: TenantRole }[]>('user_id', 'role')
        ).map((member) => [member.user_id, member.role]),
      );
      const known = { users: new Map(users.map((user) => [user.email, user])), roles };
      const rows: RosterRow[] = [];
      for (const row of read) {
        rows.push(await this.#importRow(trx, actor, tenantId, row, known, options.dryRun));
      }
      const counts = Object.fromEntries(
        rosterOutcomeSchema.options.map((outcome) => [
          outcome,
          rows.filter((row) => row.outcome === outcome).length,
        ]),
      ) as RosterImport['counts'];
      if (!options.dryRun) {
        await recordAudit(trx, {
          actorId: actor.user.id,
          tenantId,
          action: 'roster.import',
          targetType: 'tenant',
          targetId: tenantId,
          ip: options.ip,
          details: { counts },
        });
      }
      return { applied: !options.dryRun, rows, counts };
    });
  }

  /** What one row does (and, unless `dryRun`, does it), given who exists and who is a member. */
  async #importRow(
    trx: Knex.Transaction,
    actor: Actor,
    tenantId: string,
    row: ReadRow,
    known: { users: Map<string, UserRow>; roles: Map<string, TenantRole> },
    dryRun: boolean,
  ): Promise<RosterRow> {
    const answer = (outcome: RosterRow['outcome'], extra: Partial<RosterRow> = {}): RosterRow => ({
      line: row.line,
      email: row.email,
      name: row.name,
      role: row.role,
      outcome,
      reason: null,
      signInPath: null,
      ...extra,
    });
    if (row.refused) return answer('refused', { reason: row.refused });
    const role = row.role ?? 'member';
    const user = known.users.get(row.email);
    if (!user) {
      if (dryRun) return answer('new-account');
      const created = await insertUser(trx, {
        email: row.email,
        name: row.name,
        passwordHash: null,
      });
      await upsertMembership(trx, { tenantId, userId: created.id, role });
      const token = await createSignInLink(trx, created.id, actor.user.id);
      return answer('new-account', { signInPath: `/signin/${token}` });
    }
    if (user.disabled) return answer('refused', { reason: 'This account is disabled.' });
    const current = known.roles.get(user.id);
    if (current && (row.role === null || current === row.role)) return answer('already-member');
    if (current && user.id === actor.user.id) {
      return answer('refused', { reason: 'An import does not change your own role.' });
    }
    if (!dryRun) await upsertMembership(trx, { tenantId, userId: user.id, role });
    return answer(current ? 'role-changed' : 'added');
  }
}

/** The CSV's rows, each checked on its own (a header line `email,…` is skipped). */
function readRows(csv: string): ReadRow[] {
  const parsed = parseCsv(csv);
  if (parsed[0]?.fields[0]?.trim().toLowerCase() === 'email') parsed.shift();
  if (parsed.length === 0) throw new AppError('VALIDATION', 'The CSV has no rows.');
  if (parsed.length > MAX_ROSTER_ROWS) {
    throw new AppError(
      'VALIDATION',
      `The CSV has ${parsed.length} rows; import at most ${MAX_ROSTER_ROWS} at a time.`,
    );
  }
  const seen = new Map<string, number>();
  return parsed.map(({ line, fields }) => {
    const [rawEmail = '', rawName = '', rawRole = ''] = fields.map((field) => field.trim());
    const email = rawEmail.toLowerCase();
    const name = rawName || email.split('@')[0] || email;
    const role = rawRole.toLowerCase();
    const row: ReadRow = {
      line,
      email,
      name: name.slice(0, 128),
      role: (TENANT_ROLES as readonly string[]).includes(role) ? (role as TenantRole) : null,
    };
    if (!emailSchema.safeParse(email).success) row.refused = 'Not an email address.';
    else if (rawRole && row.role === null)
      row.refused = `Unknown role "${rawRole}" (member, instructor or admin).`;
    else if (seen.has(email)) row.refused = `Listed twice (first on line ${seen.get(email)}).`;
    else if (fields.length > 3) row.refused = 'More than three columns (email, name, role).';
    if (!seen.has(email)) seen.set(email, line);
    return row;
  });
}
