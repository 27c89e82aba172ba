export {
  connectDatabase,
  type Database,
  DEFAULT_DATABASE_NAME,
  databaseNameOf,
  isDatabaseUnavailable,
  openDatabase,
} from './database.js';
export {
  type IdempotencyDocument,
  type ImageFailure,
  type ProductDocument,
  type ProductResultDocument,
  productId,
  type RequestCounts,
  type RequestDocument,
  type RequestStatus,
  type WebhookDelivery,
  type WebhookState,
} from './documents.js';
export {
  claimIdempotencyKey,
  findIdempotencyClaim,
  IDEMPOTENCY_KEY_LIFETIME_MS,
  releaseIdempotencyClaim,
} from './idempotency.js';
export {
  findProduct,
  findProductResult,
  type ProductResult,
  type ProductWithResult,
  productInputsFrom,
  productsByRows,
  productsInOrder,
  recordProductResult,
  tallyProducts,
} from './products.js';
export {
  completeRequest,
  completionPercentage,
  countsView,
  deleteRequest,
  failRequest,
  findRequest,
  insertRequestWithProducts,
  isFinished,
  markRequestInProgress,
  type NewRequest,
  type ProgressCounts,
  updateWebhookDelivery,
} from './requests.js';
