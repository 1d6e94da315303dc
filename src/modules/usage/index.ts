// Usage (#4 builds the recording half; #5 adds reservations and quotas, later issues the reports).
export { aiUsage, aiUsageDaily, modelPrices } from './usage.schema';
export { UsageRecorder, type RecordResult, type UsageRecord } from './usage.service';
export { costOf } from './usage.cost';
