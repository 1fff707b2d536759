/**
 * optlayer: a high-performance optimization layer for Node.js services.
 * @packageDocumentation
 */
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
