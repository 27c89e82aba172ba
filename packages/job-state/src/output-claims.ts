import { EXPIRY } from './expiry.js';
import { keys } from './keys.js';
import type { JobStateRedis } from './scripts.js';

/**
 * Outputs are shared: a request may use an output another request made. A deletion must therefore never take
 * an output from a request that is using it but has not recorded it yet. Running requests claim each output
 * before they look for it in the store; a deletion takes only outputs nobody claims, and marks them while it
 * removes them, so that a request that comes for one meanwhile waits and makes it again afterwards. Both sides
 * run as scripts, so one of them always sees the other.
 */
export interface OutputClaims {
  /** Claims outputs for a running request; answers those being deleted now (the request must not use them). */
  claimOutputs(requestId: string, outputKeys: readonly string[]): Promise<string[]>;
  /**
   * Of the given outputs, those no running request claims and no other deletion holds, each marked as being
   * deleted by the deletion `token` names (marks last EXPIRY.outputDeletionMs, longer than any store call).
   */
  beginOutputDeletion(token: string, outputKeys: readonly string[]): Promise<string[]>;
  /**
   * Lifts the deletion's marks once its outputs are gone (never another deletion's). A finished request's
   * claims go with `forgetRequest`.
   */
  endOutputDeletion(token: string, outputKeys: readonly string[]): Promise<void>;
}

export function outputClaims(redis: JobStateRedis): OutputClaims {
  const deletionPrefix = keys.outputDeletion('');
  return {
    async claimOutputs(requestId, outputKeys) {
      if (outputKeys.length === 0) return [];
      return redis.imgsvcClaimOutputs(
        keys.outputClaimants(),
        keys.outputClaims(requestId),
        requestId,
        EXPIRY.outputClaimsMs,
        deletionPrefix,
        ...outputKeys,
      );
    },
    async beginOutputDeletion(token, outputKeys) {
      if (outputKeys.length === 0) return [];
      return redis.imgsvcBeginOutputDeletion(
        keys.outputClaimants(),
        keys.outputClaims(''),
        deletionPrefix,
        EXPIRY.outputDeletionMs,
        token,
        ...outputKeys,
      );
    },
    async endOutputDeletion(token, outputKeys) {
      if (outputKeys.length === 0) return;
      await redis.imgsvcEndOutputDeletion(
        outputKeys.length,
        ...outputKeys.map((key) => keys.outputDeletion(key)),
        token,
      );
    },
  };
}
