import type { Request } from 'express';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import { redact } from '../logger';
import { getContext } from '../request-context';
import { auditLogs } from './audit.schema';

export type ActorType = 'user' | 'api_key' | 'system' | 'anonymous';

export interface AuditEvent {
  /** Stable dotted name, e.g. `auth.login.success`. */
  action: string;
  actorUserId?: string | null;
  actorType?: ActorType;
  targetType?: string;
  targetId?: string;
  metadata?: Record<string, unknown>;
  /** Where the request came from; taken from the request when one is given. */
  ip?: string | null;
  userAgent?: string | null;
}

export interface AuditRow {
  id: string;
  actorUserId: string | null;
  actorType: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

/** The audit log every module writes to (security- and money-relevant actions). */
export class AuditService {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  static origin(req: Request): { ip: string | null; userAgent: string | null } {
    return { ip: req.ip ?? null, userAgent: req.get('user-agent')?.slice(0, 512) ?? null };
  }

  async record(event: AuditEvent, tx: Db = this.db): Promise<void> {
    // Secrets never belong here; redact() is the same guard the logger uses.
    const metadata = (redact(event.metadata ?? {}) as Record<string, unknown>) ?? {};
    await tx.insert(auditLogs).values({
      actorUserId: event.actorUserId ?? null,
      actorType: event.actorType ?? (event.actorUserId ? 'user' : 'anonymous'),
      action: event.action,
      targetType: event.targetType ?? null,
      targetId: event.targetId ?? null,
      ip: event.ip ?? null,
      userAgent: event.userAgent ?? null,
      requestId: getContext()?.requestId ?? null,
      metadata,
    });
    this.logger.info('audit.recorded', { action: event.action, targetType: event.targetType, targetId: event.targetId });
  }
}
