import { PageHeader } from '../../components/ui';

export default function AgentsAdminPage() {
  return <PageHeader title="AgentsAdminPage" />;
}
