export { type AddressPolicy, createAddressPolicy } from './address-policy.js';
export { KeyedSemaphore, Semaphore } from './concurrency-limit.js';
export { FetchError, type FetchErrorCode, findFetchError } from './fetch-errors.js';
export {
  createImageFetcher,
  type FetchedImage,
  type ImageFetcher,
  type ImageFetchOptions,
  type NotModified,
  retryAfterMs,
  type SourceValidators,
} from './fetch-image.js';
export { checkUrlTarget, createGuardedAgent, type HostLookup } from './guarded-agent.js';
