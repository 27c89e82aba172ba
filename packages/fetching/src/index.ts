export {
  type AddressClass,
  type AddressPolicy,
  type AddressPolicySettings,
  type AddressVerdict,
  createAddressPolicy,
  literalAddress,
  PRIVATE_NETWORKS,
} from './address-policy.js';
export { KeyedSemaphore, Semaphore } from './concurrency-limit.js';
export {
  blockedAddress,
  FetchError,
  type FetchErrorCode,
  type FetchErrorOptions,
  findFetchError,
} from './fetch-errors.js';
export {
  createImageFetcher,
  type FetchedImage,
  type ImageFetcher,
  type ImageFetchOptions,
  type NotModified,
  retryAfterMs,
  type SourceValidators,
} from './fetch-image.js';
export { type AgentOptions, checkUrlTarget, createGuardedAgent } from './guarded-agent.js';
