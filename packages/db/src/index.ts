export { connectDatabase, type Database, isDatabaseUnavailable, openDatabase } from './database.js';
export {
  type IdempotencyDocument,
  type ImageSizes,
  type ProductResultDocument,
  productId,
  type RequestDocument,
  type ResultFileDocument,
} from './documents.js';
export {
  claimIdempotencyKey,
  findIdempotencyClaim,
  IDEMPOTENCY_KEY_LIFETIME_MS,
  releaseIdempotencyClaim,
} from './idempotency.js';
export {
  failedProducts,
  findProductResult,
  type ProductWithResult,
  productInputsFrom,
  productsByRows,
  productsInOrder,
  recordedResults,
  recordProductResult,
  tallyProducts,
} from './products.js';
export {
  deleteIdempotencyClaimsOf,
  findDeletedRequests,
  markExpiredRequests,
  markRequestDeleted,
  outputsListedByOlderResults,
  outputsListedElsewhere,
  outputsOfRequest,
} from './removal.js';
export {
  beginIncomingRequest,
  claimRetry,
  deleteRequest,
  findRequest,
  findUnfinishedRequests,
  insertIncomingProducts,
  insertReceivedRequest,
  insertRequestWithProducts,
  markRequestCompleted,
  markRequestFailed,
  markRequestInProgress,
  type ReceivedRequest,
  releaseRetry,
  sweepAbandonedIncoming,
  updateWebhookDelivery,
} from './requests.js';
export {
  deleteResultFile,
  type KeptResultFile,
  RESULT_FILE_CHUNK_CHARS,
  readResultFile,
  storeResultFile,
} from './result-files.js';
