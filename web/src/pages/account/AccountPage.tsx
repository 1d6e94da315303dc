import { PageHeader } from '../../components/ui';

export default function AccountPage() {
  return <PageHeader title="AccountPage" />;
}
