import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useLocation, useNavigate } from 'react-router';
import { api, ApiError, forgetCsrf, onSignedOut, onTwoFactorRequired } from './api';
import type { User } from './types';

interface AuthState {
  user: User | null;
  loading: boolean;
  /** The server requires this admin to turn on 2FA before anything else. */
  twoFactorRequired: boolean;
  setUser: (u: User | null) => void;
  reload: () => Promise<void>;
  signOut: () => Promise<void>;
}
const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUserState] = useState<User | null>(null);
  const [loading, setLoading] = useState(true);
  const [twoFactorRequired, setTwoFactorRequired] = useState(false);
  // Read by the signed-out listener: a 401 after signing out on purpose is no expired session.
  const userRef = useRef<User | null>(null);
  userRef.current = user;
  const navigate = useNavigate();
  const location = useLocation();

  const reload = useCallback(async () => {
    try {
      setUserState((await api<{ user: User }>('/api/auth/me')).user);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      setUserState(null);
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => {
    void reload().catch(() => setLoading(false));
  }, [reload]);

  // An expired session anywhere: back to sign-in, then to where the person was.
  useEffect(
    () =>
      onSignedOut(() => {
        if (!userRef.current) return;
        setUserState(null);
        const here = location.pathname + location.search;
        if (!here.startsWith('/login') && !here.startsWith('/setup')) navigate(`/login?next=${encodeURIComponent(here)}`, { replace: true });
      }),
    [location, navigate],
  );

  useEffect(
    () =>
      onTwoFactorRequired(() => {
        setTwoFactorRequired(true);
        if (location.pathname !== '/account') navigate('/account', { replace: true });
      }),
    [location, navigate],
  );
  useEffect(() => {
    if (user?.twoFactorEnabled) setTwoFactorRequired(false);
  }, [user]);

  const setUser = useCallback((u: User | null) => {
    forgetCsrf();
    setUserState(u);
  }, []);
  const signOut = useCallback(async () => {
    userRef.current = null;
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } finally {
      // A full load: nothing of the last person's data stays in memory on a shared computer.
      window.location.replace('/login');
    }
  }, []);

  const value = useMemo(() => ({ user, loading, twoFactorRequired, setUser, reload, signOut }), [user, loading, twoFactorRequired, setUser, reload, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** The signed-in user; only for pages behind RequireAuth. */
export function useUser(): User {
  const { user } = useAuth();
  if (!user) throw new Error('useUser without a signed-in user');
  return user;
}
