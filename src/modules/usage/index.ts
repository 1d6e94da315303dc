// Usage (#4 builds the recording half; #5 adds reservations and quotas, later issues the reports).
export { aiUsage, aiUsageDaily, modelPrices, usageProcesses } from './usage.schema';
export { UsageHeartbeat, UsageRecorder, type HeartbeatOptions, type RecordResult, type UsageRecord } from './usage.service';
export { costOf } from './usage.cost';
