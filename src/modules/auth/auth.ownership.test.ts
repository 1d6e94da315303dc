import { NotFoundError } from '../../platform/errors';
import { ensureVisible } from './auth.ownership';

describe('ensureVisible', () => {
  const member = { user: { id: 'u1', role: 'member' } } as never;
  const admin = { user: { id: 'a1', role: 'admin' } } as never;
  const opts = { code: 'kb-not-found', what: 'knowledge base' };

  it("when the caller owns the resource, then it passes; someone else's or a missing one answers the same 404", () => {
    expect(() => ensureVisible(member, { ownerId: 'u1' }, opts)).not.toThrow();
    for (const resource of [{ ownerId: 'u2' }, undefined]) {
      try {
        ensureVisible(member, resource, opts);
        throw new Error('expected a 404');
      } catch (err) {
        expect(err).toBeInstanceOf(NotFoundError);
        expect(err).toMatchObject({ status: 404, code: 'kb-not-found', message: 'No such knowledge base.' });
      }
    }
  });

  it('when an admin asks, then they see others’ resources only where the module allows it', () => {
    expect(() => ensureVisible(admin, { ownerId: 'u2' }, opts)).toThrow(NotFoundError);
    expect(() => ensureVisible(admin, { ownerId: 'u2' }, { ...opts, adminSees: true })).not.toThrow();
    expect(() => ensureVisible(undefined, { ownerId: 'u2' }, { ...opts, adminSees: true })).toThrow(NotFoundError);
  });
});
