export { type AddressPolicy, createAddressPolicy } from './address-policy.js';
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
export { checkUrlTarget, createGuardedAgent } from './guarded-agent.js';
