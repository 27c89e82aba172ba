export {
  addCounts,
  type CountsView,
  completionPercentage,
  countsView,
  type FailuresByCode,
  productCounts,
  type RequestCounts,
  type RequestTotals,
  ZERO_COUNTS,
} from './counts.js';
export {
  httpFailureCode,
  IMAGE_FAILURE_REASONS,
  type ImageFailure,
  type ImageFailureCode,
  productGaveUp,
  requestTimedOut,
} from './image-failures.js';
export { IMAGE_ROUTE_PREFIX, outputImageUrl, outputKeyOf, requestLinks } from './links.js';
export type { ColumnRole, InputColumn, ProductInput, ReadingWarning } from './products.js';
export {
  FINISHED_STATUSES,
  isFinished,
  type RequestStatus,
  UNFINISHED_STATUSES,
} from './request-status.js';
