-- After the prelude. KEYS: (unused), leases. ARGV: key base, process, lease seconds. Returns 1
-- when this process's lease had already been reaped (its entries are gone: write them back).
local reaped = redis.call('ZSCORE', KEYS[2], ARGV[2]) == false
redis.call('ZADD', KEYS[2], clock + tonumber(ARGV[3]), ARGV[2])
return reaped and 1 or 0
