import type { ChainableCommander, Redis } from 'ioredis';

/**
 * Every Lua script of the service, sent to Redis once per connection and then called by its digest. Each runs
 * atomically: what one job reads and writes in a script no other job can see half done.
 */
const SCRIPTS = {
  // Counts a product once, however many times its job runs.
  // KEYS: counted rows (set), counts (hash), failures by code (hash).
  // ARGV: row, now (ms), lifetime (ms), products done, images succeeded, images failed, then code, count pairs.
  imgsvcRecordProgress: {
    numberOfKeys: 3,
    lua: `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'products_done', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'images_succeeded', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'images_failed', ARGV[6])
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
for i = 7, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if #ARGV > 6 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
return 1`,
  },
  // For each URL: its outcome if known, else 1 when this call took its lock, else 0 (another job holds it).
  // KEYS: outcomes (hash), then one lock per URL. ARGV: token, lock ms, then one field per URL.
  imgsvcClaimUrls: {
    lua: `
local states = {}
for index = 2, #KEYS do
  local known = redis.call('HGET', KEYS[1], ARGV[index + 1])
  if known then
    states[index - 1] = known
  elseif redis.call('SET', KEYS[index], ARGV[1], 'PX', ARGV[2], 'NX') then
    states[index - 1] = 1
  else
    states[index - 1] = 0
  end
end
return states`,
  },
  // Records the outcomes produced under a claim and frees its locks (only those it still holds).
  // KEYS: outcomes (hash), then the locks. ARGV: token, lifetime (ms), then field, outcome pairs (none when only
  // releasing).
  imgsvcSettleUrls: {
    lua: `
for index = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[index], ARGV[index + 1]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
for index = 2, #KEYS do
  if redis.call('GET', KEYS[index]) == ARGV[1] then redis.call('DEL', KEYS[index]) end
end
return 1`,
  },
  // Extends a claim's locks that it still holds. KEYS: the locks. ARGV: token, lock ms.
  imgsvcRenewUrlLocks: {
    lua: `
for index = 1, #KEYS do
  if redis.call('GET', KEYS[index]) == ARGV[1] then redis.call('PEXPIRE', KEYS[index], ARGV[2]) end
end
return 1`,
  },
  // A running request claims outputs before it looks for them in the store; answers those being deleted.
  // KEYS: claimants (set), the request's claims (set). ARGV: request id, lifetime (ms), deletion key prefix,
  // then the outputs' keys.
  imgsvcClaimOutputs: {
    numberOfKeys: 2,
    lua: `
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local deleting = {}
for index = 4, #ARGV do
  redis.call('SADD', KEYS[2], ARGV[index])
  if redis.call('EXISTS', ARGV[3] .. ARGV[index]) == 1 then deleting[#deleting + 1] = ARGV[index] end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return deleting`,
  },
  // Of the given outputs, those no running request has claimed and no other deletion has marked, each marked
  // as being deleted by this one (its token). Claimants whose claims have lapsed are dropped on the way.
  // KEYS: claimants (set). ARGV: claims key prefix, deletion key prefix, mark lifetime (ms), token, then the keys.
  imgsvcBeginOutputDeletion: {
    numberOfKeys: 1,
    lua: `
local claimants = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then claimants[#claimants + 1] = ARGV[1] .. id
  else redis.call('SREM', KEYS[1], id) end
end
local free = {}
for index = 5, #ARGV do
  local claimed = false
  for _, claims in ipairs(claimants) do
    if redis.call('SISMEMBER', claims, ARGV[index]) == 1 then claimed = true break end
  end
  if not claimed and redis.call('SET', ARGV[2] .. ARGV[index], ARGV[4], 'PX', ARGV[3], 'NX') then
    free[#free + 1] = ARGV[index]
  end
end
return free`,
  },
  // Lifts the deletion marks this deletion set (its token), and only those.
  // KEYS: the marks. ARGV: token.
  imgsvcEndOutputDeletion: {
    lua: `
for index = 1, #KEYS do
  if redis.call('GET', KEYS[index]) == ARGV[1] then redis.call('DEL', KEYS[index]) end
end
return 1`,
  },
} as const;

type Argument = string | number;

/** The scripts as commands of the connection; those with a variable number of keys take it first. */
export interface JobStateCommands {
  imgsvcRecordProgress(...args: Argument[]): Promise<number>;
  imgsvcClaimUrls(...args: Argument[]): Promise<(string | number)[]>;
  imgsvcSettleUrls(...args: Argument[]): Promise<number>;
  imgsvcRenewUrlLocks(...args: Argument[]): Promise<number>;
  imgsvcClaimOutputs(...args: Argument[]): Promise<string[]>;
  imgsvcBeginOutputDeletion(...args: Argument[]): Promise<string[]>;
  imgsvcEndOutputDeletion(...args: Argument[]): Promise<number>;
}

/** A pipeline of the connection: the scripts queue in it as any command does. */
export type JobStatePipeline = ChainableCommander & {
  [Name in keyof JobStateCommands]: (...args: Argument[]) => JobStatePipeline;
};

export type JobStateRedis = Redis & JobStateCommands;

const loaded = new WeakSet<Redis>();

/** The connection with the scripts defined on it; defining them again on the same connection does nothing. */
export function loadScripts(redis: Redis): JobStateRedis {
  if (!loaded.has(redis)) {
    for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition);
    loaded.add(redis);
  }
  return redis as JobStateRedis;
}
