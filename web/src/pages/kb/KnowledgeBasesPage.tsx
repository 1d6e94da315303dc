import { PageHeader } from '../../components/ui';

export default function KnowledgeBasesPage() {
  return <PageHeader title="KnowledgeBasesPage" />;
}
