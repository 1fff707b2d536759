/**
 * optlayer: a high-performance optimization layer for Node.js services.
 * @packageDocumentation
 */
export {
  Compressor,
  COMPRESSOR_DEFAULTS,
  type AsyncCodecOptions,
  type CompressionAlgorithm,
  type CompressOptions,
  type DecompressOptions,
} from './compress/compressor'
export { configFromEnv, CONFIG_DEFAULTS, type OptlayerConfig } from './config/env'
export {
  AbortError,
  ConfigError,
  CorruptInputError,
  InternalError,
  InvalidArgumentError,
  OptlayerError,
  OutputLimitError,
  type OptlayerErrorCode,
} from './errors'
export { MetricsCollector, METRICS_DEFAULTS, type MetricsCollectorOptions } from './monitoring/metrics-collector'
export { OptlayerServer, type OptlayerServerOptions } from './server/http-server'
export { VERSION } from './version'
