import { PageHeader } from '../../components/ui';

export default function KnowledgeBasePage() {
  return <PageHeader title="KnowledgeBasePage" />;
}
