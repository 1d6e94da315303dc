import { and, desc, eq, isNull, ne, sql } from 'drizzle-orm';
import { reusable, type Db } from '../../platform/db/client';
import { apiKeys, authTokens, recoveryCodes, refreshTokens, sessions, users, type ApiKeyScope } from './auth.schema';

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type RefreshRow = typeof refreshTokens.$inferSelect;
export type AuthTokenRow = typeof authTokens.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** The only place that touches the auth tables. Returns plain rows. */
export class AuthRepository {
  constructor(readonly db: Db) {}

  transaction<T>(fn: (repo: AuthRepository) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new AuthRepository(tx as unknown as Db)));
  }

  async findUserByEmail(email: string): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`).limit(1);
    return row;
  }

  async findUserById(id: string): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row;
  }

  async countAdmins(): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(users).where(eq(users.role, 'admin'));
    return Number(row?.n ?? 0);
  }

  async insertUser(values: { email: string; name: string; role: 'admin' | 'member'; passwordHash: string; emailVerified: boolean }): Promise<UserRow> {
    const [row] = await this.db
      .insert(users)
      .values({ ...values, passwordChangedAt: new Date() })
      .returning();
    return row!;
  }

  async setPassword(userId: string, passwordHash: string): Promise<void> {
    await this.db.update(users).set({ passwordHash, passwordChangedAt: new Date(), updatedAt: new Date() }).where(eq(users.id, userId));
  }

  async insertSession(values: { userId: string; ip: string | null; userAgent: string | null; expiresAt: Date }): Promise<SessionRow> {
    const [row] = await this.db.insert(sessions).values(values).returning();
    return row!;
  }

  async insertRefreshToken(values: { sessionId: string; familyId: string; tokenHash: string; expiresAt: Date }): Promise<RefreshRow> {
    const [row] = await this.db.insert(refreshTokens).values(values).returning();
    return row!;
  }

  async findRefreshToken(tokenHash: string): Promise<{ token: RefreshRow; session: SessionRow; user: UserRow } | undefined> {
    const [row] = await this.db
      .select({ token: refreshTokens, session: sessions, user: users })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .limit(1);
    return row;
  }

  /** Spends a refresh token; false when it was already spent (a concurrent or replayed use). */
  async spendRefreshToken(id: string): Promise<boolean> {
    const rows = await this.db
      .update(refreshTokens)
      .set({ usedAt: new Date() })
      .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt)))
      .returning({ id: refreshTokens.id });
    return rows.length === 1;
  }

  async sessionWithUser(sessionId: string): Promise<{ session: SessionRow; user: UserRow } | undefined> {
    const [row] = await this.db.select({ session: sessions, user: users }).from(sessions).innerJoin(users, eq(users.id, sessions.userId)).where(eq(sessions.id, sessionId)).limit(1);
    return row;
  }

  async touchSession(sessionId: string, at: Date): Promise<void> {
    await this.db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.id, sessionId));
  }

  async revokeSession(sessionId: string, reason: string, userId?: string): Promise<boolean> {
    const rows = await this.db
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt), userId ? eq(sessions.userId, userId) : undefined))
      .returning({ id: sessions.id });
    return rows.length === 1;
  }

  async revokeUserSessions(userId: string, reason: string, exceptSessionId?: string): Promise<number> {
    const rows = await this.db
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined))
      .returning({ id: sessions.id });
    return rows.length;
  }

  async listSessions(userId: string): Promise<SessionRow[]> {
    return this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), sql`${sessions.expiresAt} > now()`))
      .orderBy(desc(sessions.lastSeenAt));
  }

  async insertAuthToken(values: { purpose: AuthTokenRow['purpose']; tokenHash: string; userId?: string | null; expiresAt?: Date | null; createdBy?: string | null; metadata?: Record<string, unknown> }): Promise<AuthTokenRow> {
    const [row] = await this.db.insert(authTokens).values(values).returning();
    return row!;
  }

  async hasUnusedAuthToken(purpose: AuthTokenRow['purpose']): Promise<boolean> {
    const [row] = await this.db
      .select({ id: authTokens.id })
      .from(authTokens)
      .where(and(eq(authTokens.purpose, purpose), isNull(authTokens.usedAt), sql`(${authTokens.expiresAt} IS NULL OR ${authTokens.expiresAt} > now())`))
      .limit(1);
    return Boolean(row);
  }

  /** Marks a single-use token used and returns it, or nothing when it is unknown, used or expired. */
  async consumeAuthToken(purpose: AuthTokenRow['purpose'], tokenHash: string): Promise<AuthTokenRow | undefined> {
    const [row] = await this.db
      .update(authTokens)
      .set({ usedAt: new Date() })
      .where(and(eq(authTokens.purpose, purpose), eq(authTokens.tokenHash, tokenHash), isNull(authTokens.usedAt), sql`(${authTokens.expiresAt} IS NULL OR ${authTokens.expiresAt} > now())`))
      .returning();
    return row;
  }

  async insertApiKey(values: { userId: string; name: string; prefix: string; keyHash: string; scopes: ApiKeyScope[]; expiresAt: Date | null }): Promise<ApiKeyRow> {
    const [row] = await this.db.insert(apiKeys).values(values).returning();
    return row!;
  }

  async countActiveApiKeys(userId: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(apiKeys).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt), sql`(${apiKeys.expiresAt} IS NULL OR ${apiKeys.expiresAt} > now())`));
    return Number(row?.n ?? 0);
  }

  async listApiKeys(userId: string): Promise<ApiKeyRow[]> {
    return this.db.select().from(apiKeys).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).orderBy(desc(apiKeys.createdAt));
  }

  private keyLookup?: ReturnType<AuthRepository['buildKeyLookup']>;
  private buildKeyLookup() {
    return reusable(this.db.select({ key: apiKeys, user: users }).from(apiKeys).innerJoin(users, eq(users.id, apiKeys.userId)).where(eq(apiKeys.keyHash, sql.placeholder('keyHash'))).limit(1));
  }

  /** Every API request's lookup: built once. */
  async apiKeyWithUser(keyHash: string): Promise<{ key: ApiKeyRow; user: UserRow } | undefined> {
    this.keyLookup ??= this.buildKeyLookup();
    const [row] = await this.keyLookup.execute({ keyHash });
    return row;
  }

  async touchApiKey(id: string, at: Date): Promise<void> {
    await this.db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
  }

  async revokeApiKey(id: string, userId: string): Promise<boolean> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return rows.length === 1;
  }

  // ---- TOTP --------------------------------------------------------------------------------

  async setPendingTotp(userId: string, secretEnc: string): Promise<void> {
    await this.db.update(users).set({ totpSecretEnc: secretEnc, totpEnabledAt: null, totpLastStep: null, updatedAt: new Date() }).where(eq(users.id, userId));
  }

  async enableTotp(userId: string, codeHashes: string[]): Promise<void> {
    await this.db.update(users).set({ totpEnabledAt: new Date(), updatedAt: new Date() }).where(eq(users.id, userId));
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await this.db.insert(recoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash })));
  }

  async disableTotp(userId: string): Promise<void> {
    await this.db.update(users).set({ totpSecretEnc: null, totpEnabledAt: null, totpLastStep: null, updatedAt: new Date() }).where(eq(users.id, userId));
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  }

  /** Records a TOTP time step as used; false when it (or a later one) was used already (replay). */
  async acceptTotpStep(userId: string, step: number): Promise<boolean> {
    const rows = await this.db
      .update(users)
      .set({ totpLastStep: step })
      .where(and(eq(users.id, userId), sql`(${users.totpLastStep} IS NULL OR ${users.totpLastStep} < ${step})`))
      .returning({ id: users.id });
    return rows.length === 1;
  }

  async consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const rows = await this.db
      .update(recoveryCodes)
      .set({ usedAt: new Date() })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, codeHash), isNull(recoveryCodes.usedAt)))
      .returning({ id: recoveryCodes.id });
    return rows.length === 1;
  }

  // ---- user administration -------------------------------------------------------------------

  async listUsers(opts: { limit: number; offset: number; search?: string }): Promise<{ rows: UserRow[]; total: number }> {
    // The search text is data, not a pattern: escape LIKE's wildcards (backslash is the default escape).
    const pattern = opts.search ? `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
    const where = pattern ? sql`(lower(${users.email}) LIKE ${pattern} OR lower(${users.name}) LIKE ${pattern})` : undefined;
    const rows = await this.db.select().from(users).where(where).orderBy(users.createdAt, users.id).limit(opts.limit).offset(opts.offset);
    const [count] = await this.db.select({ n: sql<number>`count(*)::int` }).from(users).where(where);
    return { rows, total: Number(count?.n ?? 0) };
  }

  async updateUser(id: string, values: { status?: UserRow['status']; role?: UserRow['role']; name?: string; emailVerified?: boolean }): Promise<UserRow | undefined> {
    const [row] = await this.db
      .update(users)
      .set({ ...values, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    return row;
  }

  async deleteUser(id: string): Promise<boolean> {
    const rows = await this.db.delete(users).where(eq(users.id, id)).returning({ id: users.id });
    return rows.length === 1;
  }

  async listActiveAdmins(): Promise<UserRow[]> {
    return this.db.select().from(users).where(and(eq(users.role, 'admin'), eq(users.status, 'active'))).orderBy(desc(users.createdAt)).limit(1000);
  }

  /** Active admins other than `exceptId`: the last one can be neither demoted, disabled nor deleted. */
  async countOtherActiveAdmins(exceptId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(users)
      .where(and(eq(users.role, 'admin'), eq(users.status, 'active'), ne(users.id, exceptId)));
    return Number(row?.n ?? 0);
  }

  async revokeUserApiKeys(userId: string): Promise<number> {
    const rows = await this.db.update(apiKeys).set({ revokedAt: new Date() }).where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
    return rows.length;
  }

  /** Spends every unused link of a purpose for a user (e.g. older reset links once the password is set). */
  async spendAuthTokens(purpose: AuthTokenRow['purpose'], userId: string | null): Promise<void> {
    await this.db
      .update(authTokens)
      .set({ usedAt: new Date() })
      .where(and(eq(authTokens.purpose, purpose), userId ? eq(authTokens.userId, userId) : isNull(authTokens.userId), isNull(authTokens.usedAt)));
  }

  /** Serialises changes that could leave no active admin (a transaction-scoped advisory lock). */
  async lockAdminChanges(): Promise<void> {
    await this.db.execute(sql`SELECT pg_advisory_xact_lock(4242420002)`);
  }

  async isActiveAdmin(userId: string): Promise<boolean> {
    const [row] = await this.db.select({ id: users.id }).from(users).where(and(eq(users.id, userId), eq(users.role, 'admin'), eq(users.status, 'active'))).limit(1);
    return Boolean(row);
  }
}
