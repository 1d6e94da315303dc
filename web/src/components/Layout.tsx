import { useEffect, useState, type ReactNode } from 'react';
import { NavLink, useLocation } from 'react-router';
import { useAuth, useUser } from '../lib/auth';

/** The frame of every signed-in page: a top bar whose navigation folds into a menu on a phone. */
export function Layout({ children }: { children: ReactNode }) {
  const user = useUser();
  const { signOut, twoFactorRequired } = useAuth();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setOpen(false), [location.pathname]);
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="logo" aria-label="Hearth home">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          <span>Hearth</span>
        </NavLink>
        <button type="button" className="menu-button" aria-expanded={open} aria-controls="main-nav" onClick={() => setOpen((o) => !o)}>
          Menu
        </button>
        <nav id="main-nav" className={open ? 'nav open' : 'nav'} aria-label="Main">
          <NavLink to="/" end className={({ isActive }) => (isActive || location.pathname.startsWith('/c/') ? 'active' : undefined)}>
            Chat
          </NavLink>
          <NavLink to="/knowledge">Knowledge</NavLink>
          {user.role === 'admin' && <NavLink to="/admin/agents">Agents</NavLink>}
          <NavLink to="/account">Account</NavLink>
          <span className="who" title={user.email}>
            {user.name}
          </span>
          <button type="button" className="link-button" onClick={() => void signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" className="content">
        {twoFactorRequired && !user.twoFactorEnabled && (
          <p className="notice banner" role="alert">
            Admins on this server must use two-factor authentication. Turn it on under “Two-factor authentication” below; the rest of Hearth opens once it is on.
          </p>
        )}
        {children}
      </main>
    </div>
  );
}
