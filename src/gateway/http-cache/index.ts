/**
 * Shared-cache semantics of HTTP (RFC 9111) for the gateway: keys, storability, freshness,
 * conditional requests, revalidation, and the stored form of a response in a
 * `DistributedCache`. No network I/O: the gateway calls these around its upstream requests.
 */
export { parseCacheControl, deltaSeconds, MAX_DELTA_SECONDS, type CacheControl } from './cache-control'
export { primaryKey, secondaryKey, varyNames, varyValue, varyValues, VARY_ANY } from './cache-key'
export {
  evaluateConditional,
  lastModifiedMs,
  notModifiedHeaders,
  revalidationHeaders,
  storedEntityTag,
  updateFrom304,
  type ConditionalResult,
  type RevalidationHeaders,
} from './conditional'
export {
  cacheState,
  currentAgeMs,
  freshnessLifetimeMs,
  freshUntilMs,
  requestCacheControl,
  staleIfErrorAllowed,
  staleWindowMs,
  FRESHNESS_DEFAULTS,
  HEURISTICALLY_CACHEABLE,
  type CacheState,
  type FreshnessInput,
  type FreshnessOptions,
} from './freshness'
export {
  endToEndHeaders,
  headerValue,
  type CacheRequest,
  type HeaderList,
  type HeaderValue,
  type RequestHeaders,
  type ResponseHeadersInput,
} from './headers'
export {
  HttpResponseStore,
  HTTP_RESPONSE_STORE_DEFAULTS,
  type HttpResponseStoreOptions,
  type HttpResponseStoreStats,
} from './response-store'
export { isStorable, notStorableReason, type NotStorableReason } from './storability'
export {
  createStoredResponse,
  decodeStoredResponse,
  encodeStoredResponse,
  isEncodedStoredResponse,
  responseHeaders,
  type ServeOptions,
  type StoredResponse,
  type UpstreamResponse,
} from './stored-response'
