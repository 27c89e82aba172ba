/**
 * A request's life: pending (accepted, not started) → in_progress → completed (every image attempted) or
 * failed (the request as a whole could not be processed). A finished request never changes status again.
 */
export type RequestStatus = 'pending' | 'in_progress' | 'completed' | 'failed';

/** The statuses a request may still leave: the only ones from which it can start, complete or fail. */
export const UNFINISHED_STATUSES: readonly RequestStatus[] = ['pending', 'in_progress'];

/** The statuses a request never leaves. */
export const FINISHED_STATUSES: readonly RequestStatus[] = ['completed', 'failed'];

export function isFinished(status: RequestStatus): boolean {
  return status === 'completed' || status === 'failed';
}
