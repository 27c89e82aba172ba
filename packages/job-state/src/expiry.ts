const MINUTE_MS = 60 * 1000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/**
 * How long each kind of state outlives its last write. Redis is a cache here (MongoDB holds the record), so
 * every key lapses; a finished request drops or shortens its own at once (`forgetRequest`). URL locks are not
 * listed: they live as long as a job's lock (JOB_LOCK_MS), renewed while their holder works.
 */
export const EXPIRY = {
  /** A running request's counts and counted rows: far longer than any request runs. */
  runningProgressMs: 30 * DAY_MS,
  /** A finished request's counts, for a reader still holding a copy of the request as running. */
  finishedProgressMs: 10 * MINUTE_MS,
  /** A request's settled URLs, should the request never finish. */
  urlOutcomesMs: 7 * DAY_MS,
  /** What a URL gave, for conditional downloads by the next request that names it. */
  imageSourceMs: 7 * DAY_MS,
  /** A product queue's entry in the registry after it was last given work: longer than any job is kept. */
  productQueueMs: 30 * DAY_MS,
  /** A running request's output claims, should the request never finish: far longer than any request runs. */
  outputClaimsMs: 30 * DAY_MS,
  /**
   * An output's deletion mark, should its deleter stop before it ends it: longer than removing a batch of
   * outputs can take (each store call is bounded by 3 attempts of S3_REQUEST_TIMEOUT_MS, at most 2 minutes).
   */
  outputDeletionMs: 60 * MINUTE_MS,
} as const;
