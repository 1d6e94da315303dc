import { PageHeader } from '../../components/ui';

export default function EntryPage() {
  return <PageHeader title="EntryPage" />;
}
