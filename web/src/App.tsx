import { lazy, Suspense, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { AuthProvider, useAuth } from './lib/auth';
import { Layout } from './components/Layout';
import { Spinner } from './components/ui';
import { LoginPage } from './pages/LoginPage';
import { SetupPage } from './pages/SetupPage';
import { StatusPage } from './pages/StatusPage';
import { ChatPage } from './pages/chat/ChatPage';

const KnowledgeBasesPage = lazy(() => import('./pages/kb/KnowledgeBasesPage'));
const KnowledgeBasePage = lazy(() => import('./pages/kb/KnowledgeBasePage'));
const EntryPage = lazy(() => import('./pages/kb/EntryPage'));
const AccountPage = lazy(() => import('./pages/account/AccountPage'));
const AgentsAdminPage = lazy(() => import('./pages/admin/AgentsAdminPage'));

function RequireAuth({ children, admin }: { children: ReactNode; admin?: boolean }) {
  const { user, loading } = useAuth();
  const location = useLocation();
  if (loading) return <Spinner />;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  if (admin && user.role !== 'admin') return <Navigate to="/" replace />;
  return <>{children}</>;
}

const inLayout = (page: ReactNode, admin?: boolean) => (
  <RequireAuth admin={admin}>
    <Layout>
      <Suspense fallback={<Spinner />}>{page}</Suspense>
    </Layout>
  </RequireAuth>
);

export function App() {
  return (
    <BrowserRouter>
      <AuthProvider>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/setup" element={<SetupPage />} />
          <Route path="/status" element={<StatusPage />} />
          <Route path="/" element={inLayout(<ChatPage />)} />
          <Route path="/c/:conversationId" element={inLayout(<ChatPage />)} />
          <Route path="/knowledge" element={inLayout(<KnowledgeBasesPage />)} />
          <Route path="/knowledge/:kbId" element={inLayout(<KnowledgeBasePage />)} />
          <Route path="/knowledge/:kbId/entries/:entryId" element={inLayout(<EntryPage />)} />
          <Route path="/account" element={inLayout(<AccountPage />)} />
          <Route path="/admin/agents" element={inLayout(<AgentsAdminPage />, true)} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </AuthProvider>
    </BrowserRouter>
  );
}
