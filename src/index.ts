/**
 * optlayer: a high-performance optimization layer for Node.js services.
 * @packageDocumentation
 */
export {
  CACHE_MAX_TTL_MS,
  DISTRIBUTED_CACHE_DEFAULTS,
  type DistributedCacheOptions,
  type L1Options,
  type L3TierOptions,
  type LeaseOptions,
  type OutageJournalOptions,
} from './cache/cache-options'
export {
  DistributedCache,
  type CacheLoader,
  type DistributedCacheStats,
  type TierCounters,
  type WarmReport,
} from './cache/distributed-cache'
export type {
  CacheDeleteOptions,
  CacheGetOptions,
  CacheLoadOptions,
  CacheSetOptions,
  WarmOptions,
} from './cache/call-options'
export { BloomFilter } from './cache/bloom-filter'
export { HashRing } from './core/hash-ring'
export { L2_DEFAULTS, type L2Options, type L2Stats } from './cache/native-store'
export type { CacheRedisConnection } from './cache/redis-tier'
export type { RedisAddress } from './redis/clients'
export {
  DEFAULT_ENCODING_PREFERENCE,
  negotiateEncoding,
  parseAcceptEncoding,
  type AcceptedEncoding,
  type ContentEncoding,
} from './compress/accept-encoding'
export { COMPRESSION_ALGORITHMS, type CompressionAlgorithm } from './compress/algorithms'
export {
  CHOOSE_DEFAULTS,
  chooseCompression,
  type ChooseOptions,
  type CompressionBudget,
  type CompressionChoice,
} from './compress/choose'
export { CODEC_TIMING_SAMPLE, codecStats, type CodecCounters, type CodecOperation } from './compress/codec-stats'
export { compressedSerializer, type CompressedSerializerOptions } from './compress/compressed-serializer'
export {
  Compressor,
  COMPRESSOR_DEFAULTS,
  type AsyncCodecOptions,
  type CompressOptions,
  type DecompressOptions,
} from './compress/compressor'
export { jsonSerializer, msgpackSerializer, protobufSerializer, type Serializer } from './compress/serializer'
export { CodecStream, createCompressStream, createDecompressStream, type StreamAlgorithm } from './compress/streams'
export { ZstdDictionary } from './compress/zstd-dictionary'
export { ZstdPatch } from './compress/zstd-patch'
export {
  configFromEnv,
  CONFIG_DEFAULTS,
  type AdminConfig,
  type CacheConfig,
  type ConfigFromEnvOptions,
  type GatewayConfig,
  type OptlayerConfig,
  type ProfilingConfig,
  type QueueConfig,
  type RateLimitConfig,
} from './config/env'
export { cacheOptionsFromConfig } from './config/cache-config'
export { renderConfigTable, renderHelp } from './config/help'
export type { RedisConfig } from './config/redis-config'
export type { TrustedNetwork } from './config/trusted-proxies'
export { parseBytes, type Env } from './config/values'
export {
  RATE_LIMIT_TYPE_ALIASES,
  SECTIONS,
  VARIABLES,
  type Section,
  type VariableKind,
  type VariableName,
  type VariableSpec,
} from './config/variables'
export {
  AbortError,
  BackendResponseError,
  CircuitOpenError,
  ClosedError,
  ConfigError,
  ConfigMismatchError,
  CorruptInputError,
  CostExceedsCapacityError,
  InternalError,
  InvalidArgumentError,
  LeaseLostError,
  NoBackendError,
  NotSerializableError,
  OptlayerError,
  OutputLimitError,
  OverloadedError,
  QueueFullError,
  RateLimitedError,
  TimeoutError,
  UnavailableError,
  ValueTooLargeError,
  type OptlayerErrorCode,
  type RetryLaterOptions,
} from './core/errors'
export {
  BoundedCounter,
  BoundedGauge,
  BoundedHistogram,
  OVERFLOW_LABEL_VALUE,
  type BoundedHistogramOptions,
  type BoundedMetricOptions,
} from './monitoring/bounded-metrics'
export type { ComponentMetric, ComponentRegistration, ComponentValue } from './core/component-registry'
export {
  FLEET_DEFAULTS,
  FleetAggregator,
  FleetReporter,
  type FleetAggregatorOptions,
  type FleetChannel,
  type FleetOptions,
} from './monitoring/fleet'
export {
  DEFAULT_QUANTILES,
  LATENCY_HISTOGRAM_DEFAULTS,
  LatencyHistogram,
  type LatencyHistogramOptions,
  type LatencyReadOptions,
  type LatencySnapshot,
} from './core/latency-histogram'
export {
  MetricsCollector,
  METRICS_DEFAULTS,
  type LatencyFigures,
  type MetricsCollectorOptions,
  type RequestFigures,
  type RequestSource,
  type SystemMetrics,
} from './monitoring/metrics-collector'
export type { GcKind, GcKindTotals, ProcessFigures } from './monitoring/process-sampler'
export {
  AIMD_DEFAULTS,
  AimdLimit,
  createAdaptiveLimit,
  GRADIENT_DEFAULTS,
  GradientLimit,
  type AdaptiveAlgorithm,
  type AdaptiveLimit,
  type AdaptiveLimitBounds,
  type AdaptiveLimitOptions,
  type AimdLimitOptions,
  type GradientLimitOptions,
} from './ratelimit/adaptive-limit'
export {
  ADAPTIVE_LIMITER_DEFAULTS,
  AdaptiveRateLimiter,
  type AdaptiveRateLimiterOptions,
  type AdaptiveRateLimiterStats,
  type AdaptiveRateOptions,
  type KeyedCircuitStateChange,
} from './ratelimit/adaptive-limiter'
export {
  CIRCUIT_BREAKER_DEFAULTS,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerStats,
  type CircuitState,
  type CircuitStateChange,
} from './resilience/circuit-breaker'
export type { RateLimitDecision } from './ratelimit/decision'
export { rateLimitHeaders, rejectTooManyRequests, type TooManyRequestsBody } from './ratelimit/http'
export {
  LOCAL_STORE_DEFAULTS,
  type CapPolicy,
  type LocalLimiterStats,
  type LocalStoreOptions,
} from './ratelimit/local-limiter'
export { RATE_LIMIT_ALGORITHMS, type FixedRateAlgorithm, type Quota, type RateLimitAlgorithm } from './ratelimit/quota'
export {
  RATE_LIMITER_DEFAULTS,
  RateLimiter,
  type ConsumeResult,
  type RateLimiterOptions,
  type RateLimiterStats,
  type RedisFallback,
} from './ratelimit/rate-limiter'
export type { PickExclusion } from './balancer/algorithms/picker'
export type { BackendState, BackendStats, BalancerBackend, PickRequest, ReleaseOutcome } from './balancer/backend'
export {
  LoadBalancer,
  type BackendStateChange,
  type BalancerRetryOptions,
  type HealthCheckResult,
  type LoadBalancerEvents,
  type LoadBalancerStats,
  type PanicChange,
} from './balancer/load-balancer'
export {
  BALANCER_ALGORITHMS,
  HEALTH_CHECK_DEFAULTS,
  LOAD_BALANCER_DEFAULTS,
  MAX_RING_POINTS,
  OUTLIER_DETECTION_DEFAULTS,
  RETRY_BUDGET_DEFAULTS,
  type BackendConfig,
  type BalancerAlgorithm,
  type HealthCheckOptions,
  type LoadBalancerOptions,
  type OutlierDetectionOptions,
  type RetryBudgetOptions,
} from './balancer/options'
export { RetryBudget, type RetryBudgetStats } from './balancer/retry-budget'
export { LEASE_BATCHER_DEFAULTS, LeaseBatcher, type LeaseBatcherOptions } from './ratelimit/lease-batcher'
export {
  REDIS_RATE_LIMIT_STORE_DEFAULTS,
  RedisRateLimitStore,
  type RedisConnection,
  type RedisDecisionStatus,
  type RedisRateLimitStoreOptions,
  type RedisTakeOptions,
  type RedisTakeResult,
} from './ratelimit/redis-store'
export {
  defaultAlertRules,
  METRIC_SOURCES_DEFAULTS,
  MetricSources,
  type DefaultAlertRulesOptions,
  type EventLoopStatistic,
  type MetricSourcesOptions,
  type SourceMetricNames,
  type WindowOptions,
} from './monitoring/alert-sources'
export {
  ALERT_COMPARISONS,
  ALERT_DEFAULTS,
  ALERT_SEVERITIES,
  AlertManager,
  type ActiveAlert,
  type AlertComparison,
  type AlertLogRecord,
  type AlertManagerEvents,
  type AlertManagerOptions,
  type AlertRule,
  type AlertRuleStatus,
  type AlertSeverity,
  type AlertSource,
  type AlertState,
  type AlertsSnapshot,
  type ResolvedAlert,
} from './monitoring/alerts'
export {
  DASHBOARD_DEFAULTS,
  DashboardData,
  type DashboardDataOptions,
  type DashboardLine,
  type DashboardMetricNames,
  type DashboardPanel,
  type DashboardPanelId,
  type DashboardPayload,
} from './monitoring/dashboard/data'
export {
  METRIC_READER_DEFAULTS,
  MetricReader,
  type LabelFilter,
  type MetricReaderOptions,
  type MetricsInput,
} from './monitoring/metric-reader'
export {
  activeHandles,
  PROFILING_DEFAULTS,
  ProfilingServer,
  startProfilingServer,
  type HandlesDump,
  type ProfilingServerOptions,
} from './monitoring/profiling'
export { pprofAvailable, type ProfileFormat } from './monitoring/profiling-backends'
export { CLUSTER_DEFAULTS, ClusterPrimary, type ClusterPrimaryOptions } from './server/cluster'
export { HTTP_LIMITS_DEFAULTS, type HttpLimits } from './core/http-listener'
export {
  OptlayerServer,
  RATE_LIMIT_EXEMPT_PATHS,
  SERVER_DEFAULTS,
  type AdminListenerOptions,
  type AlertsProvider,
  type NativeFrontListenerOptions,
  type OptlayerServerOptions,
  type ReadinessCheck,
} from './server/http-server'
export {
  ConnectionPool,
  type ConnectionPoolEvents,
  type DestroyReason,
  type PoolState,
  type PoolStats,
  type UnleakReport,
} from './pool/connection-pool'
export {
  HTTP_UPSTREAM_DEFAULTS,
  HttpUpstream,
  httpUpstream,
  type HttpUpstreamOptions,
  type HttpUpstreamRequest,
  type HttpUpstreamStats,
} from './pool/http-upstream'
export type { LatencySummary } from './pool/latency-stats'
export type { LeakReport } from './pool/leak-detector'
export {
  PoolCircuitOpenError,
  PoolReleaseError,
  PoolTimeoutError,
  type PoolDiagnosis,
  type PoolHolder,
  type PoolReleaseFault,
  type PoolTimeoutReason,
} from './pool/pool-errors'
export { POOL_BREAKER_DEFAULTS, POOL_DEFAULTS, type ConnectionPoolOptions } from './pool/pool-options'
export {
  TCP_RESOURCE_DEFAULTS,
  tcpResourceFactory,
  type TcpResourceFactory,
  type TcpResourceOptions,
} from './pool/tcp-resource'
export * from './queue/durable'
export { VERSION } from './version'
export { LAYER_OUTCOMES, type LayerOutcome, type LayerStats } from './layer/layer-metrics'
export { type LayerAccessLog, type LayerAccessLogEntry } from './layer/access-log'
export {
  OPTIMIZATION_LAYER_DEFAULTS,
  type LayerRateLimitOptions,
  type LayerRedis,
  type LayerStopOptions,
  type OptimizationLayerOptions,
  type Processor,
  type ProcessorContext,
  type ProcessRequestOptions,
} from './layer/options'
export { OptimizationLayer, type LayerCheck, type LayerStopReport } from './layer/optimization-layer'
export type { LayerNativeListener, LayerNativeListenOptions } from './layer/native-listener'
export { layerOptionsFromEnv } from './layer/from-env'
export { BACKOFF_DEFAULTS } from './queue/backoff'
export { TASK_QUEUE_DEFAULTS, type TaskQueueOptions } from './queue/options'
export { TaskQueue, type FinalFailure, type TaskQueueEvents, type TaskQueueTimings } from './queue/task-queue'
export {
  Priority,
  type BackoffOptions,
  type DeadLetter,
  type StopOptions,
  type StopReport,
  type TaskContext,
  type TaskError,
  type TaskHandle,
  type TaskInfo,
  type TaskQueueStats,
  type TaskRun,
  type TaskSpec,
  type TaskState,
} from './queue/types'
export { Gateway, GATEWAY_PROBE_PATHS, type GatewayCheck } from './gateway/gateway'
export {
  GATEWAY_DEFAULTS,
  type GatewayBackend,
  type GatewayCloseOptions,
  type GatewayOptions,
  type GatewayRateLimitOptions,
  type GatewayRedis,
} from './gateway/options'
export {
  GATEWAY_OUTCOMES,
  type GatewayLatency,
  type GatewayOutcome,
  type GatewayStats,
  type StatusClass,
} from './gateway/gateway-metrics'
export type { GatewayErrorBody, GatewayErrorCode } from './gateway/replies'
export { startDemoBackend, type DemoBackend, type DemoBackendOptions } from './gateway/demo-backend'
export { serveGateway, type ServedGateway, type ServeGatewayConfig } from './server/serve'
export {
  NATIVE_FRONT_DEFAULTS,
  NativeFront,
  type NativeFrontOptions,
  type NativeFrontStats,
  type PublishedHit,
} from './front/native-front'
