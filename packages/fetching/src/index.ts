export { type AddressPolicy, createAddressPolicy } from './address-policy.js';
export { type Release, Semaphore } from './concurrency-limit.js';
export { FetchError, findFetchError } from './fetch-errors.js';
export {
  createImageFetcher,
  type FetchedImage,
  type ImageFetcher,
  type SourceValidators,
} from './fetch-image.js';
export { checkUrlTarget, createGuardedAgent, type HostLookup } from './guarded-agent.js';
