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
  type ProductDocument,
  type ProductResultDocument,
  productId,
  type RequestDocument,
  type StoredCounts,
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
  deleteRequest,
  findRequest,
  insertRequestWithProducts,
  markRequestCompleted,
  markRequestFailed,
  markRequestInProgress,
  type NewRequest,
  updateWebhookDelivery,
} from './requests.js';
