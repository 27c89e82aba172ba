export type { ImageSource, ImageSources } from './image-sources.js';
export { type JobState, type JobStateOptions, openJobState, openProgressReader } from './job-state.js';
export type { LiveProgress, ProgressReader, ProgressRecorder } from './live-progress.js';
export type { OutputClaims } from './output-claims.js';
export type { FinishedProduct, ProductFinishing } from './product-finish.js';
export type { ProductQueueRegistry } from './product-queues.js';
export type { ImageOutcome, UrlClaim, UrlClaims } from './url-claims.js';
