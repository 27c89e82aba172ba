export {
  type AcceptedUpload,
  acceptUpload,
  openUpload,
  type Upload,
  type UploadDetails,
  type UploadIntake,
  type UploadRefusalCode,
  UploadRefused,
} from './accept-upload.js';
export {
  type FinishedRequest,
  failRequest,
  finishRequest,
  INTERNAL_FAILURE_REASON,
  type RequestFinishing,
} from './finish-request.js';
export { type Reconciliation, reconcileRequests } from './reconcile-requests.js';
export {
  type Removal,
  type RemovedRequest,
  type RequestRemoval,
  removeDeletedRequests,
} from './remove-requests.js';
export { KEEP_RESULT_ABOVE_PRODUCTS, keepResultFile, resultCsv, resultProducts } from './result-file.js';
export { type RetryOutcome, retryRequest } from './retry-request.js';
