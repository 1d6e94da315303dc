import { setMaxListeners } from 'node:events';
import type { Config } from '../../config';
import type { AuditService } from '../../platform/audit/audit.service';
import type { Db } from '../../platform/db/client';
import type { Logger } from '../../platform/logger';
import type { ApiDocs } from '../../platform/openapi';
import type { KnowledgeBaseService } from '../knowledge-base';
import { UsageHeartbeat, UsageRecorder } from '../usage';
import { AgentService } from './chat.agents.service';
import { AnthropicProvider, BreakerProvider, ExtractiveProvider, OpenAiProvider, type ChatProvider } from './chat.providers';
import { ChatRepository } from './chat.repository';
import { chatRoutes, providerRoutes } from './chat.routes';
import { openAiAgentPrefetch, openAiRoutes } from './chat.openai';
import { ChatService } from './chat.service';
import { ProviderService } from './chat.providers.service';
import { SecretBox } from '../../platform/crypto';

export { agents, agentConversations, agentMessages, agentKnowledgeBases } from './chat.schema';
export { ExtractiveProvider, OpenAiProvider, type ChatProvider } from './chat.providers';

export interface ChatModuleDeps {
  config: Config;
  db: Db;
  audit: AuditService;
  logger: Logger;
  knowledgeBases: KnowledgeBaseService;
  signal: AbortSignal;
}

/** The default provider from LLM_* (admins' extra providers come with /api/providers). */
function defaultProvider(config: Config): ChatProvider {
  const { llm } = config;
  if (llm.provider === 'openai') {
    return new BreakerProvider(
      new OpenAiProvider({ name: 'openai', baseUrl: llm.baseUrl, apiKey: llm.apiKey, defaultModel: llm.model!, firstTokenTimeoutMs: llm.firstTokenTimeoutMs, overallTimeoutMs: llm.timeoutMs, maxRetries: llm.maxRetries }),
      { resetTimeoutMs: llm.breakerResetMs },
    );
  }
  if (llm.provider === 'anthropic') {
    return new BreakerProvider(
      new AnthropicProvider({ name: 'anthropic', baseUrl: llm.baseUrl, apiKey: llm.apiKey, defaultModel: llm.model!, firstTokenTimeoutMs: llm.firstTokenTimeoutMs, overallTimeoutMs: llm.timeoutMs, maxRetries: llm.maxRetries }),
      { resetTimeoutMs: llm.breakerResetMs },
    );
  }
  return new ExtractiveProvider(config.kbLanguage);
}

export function createChatModule(deps: ChatModuleDeps) {
  // Every open stream listens for shutdown on this one signal; hundreds at once are normal.
  setMaxListeners(0, deps.signal);
  const repo = new ChatRepository(deps.db);
  const { llm } = deps.config;
  const providers = new ProviderService(repo, new SecretBox(deps.config.secrets.encryptionKey), deps.audit, defaultProvider(deps.config), {
    firstTokenTimeoutMs: llm.firstTokenTimeoutMs,
    timeoutMs: llm.timeoutMs,
    maxRetries: llm.maxRetries,
    breakerResetMs: llm.breakerResetMs,
  });
  const agents = new AgentService(repo, deps.knowledgeBases, deps.audit, providers);
  const recorder = new UsageRecorder(deps.db);
  const chat = new ChatService(repo, agents, deps.knowledgeBases, recorder, (agent) => providers.resolve(agent), deps.logger);
  // Beats at a sixth of the staleness, so a few missed beats never make a live process look dead.
  const heartbeat = new UsageHeartbeat(deps.db, recorder, chat.owner, deps.logger, { staleSeconds: deps.config.usage.staleSeconds, sweepMs: deps.config.usage.sweepMs, beatMs: Math.max(500, Math.floor((deps.config.usage.staleSeconds * 1000) / 6)) });
  return {
    agents,
    chat,
    /** Circuit-breaker states by provider, reported by /health/ready (never failing it). */
    providers,
    providerStates: () => providers.states(),
    /** Writes the usage ends kept while the database refused them (the heartbeat's sweep does it too). */
    retryUnwrittenUsage: () => recorder.retryUnwritten(),
    /** Before authentication (see openAiAgentPrefetch). */
    openAiPrefetch: openAiAgentPrefetch(agents),
    routes: (docs: ApiDocs) => [chatRoutes(docs, agents, chat, { signal: deps.signal }), providerRoutes(docs, providers)],
    /** `/v1`: mounted ahead of the other routers, which a request walks route by route before it. */
    openAiRoutes: (docs: ApiDocs) => openAiRoutes(docs, agents, chat, { signal: deps.signal }),
    start: async () => {
      await agents.ensureDefault();
      await heartbeat.start();
    },
    /** After the lifecycle signal has aborted the streams: their ends are written, then the heartbeat goes. */
    stop: async () => {
      await chat.drain();
      await heartbeat.stop();
    },
  };
}
export type ChatModule = ReturnType<typeof createChatModule>;
