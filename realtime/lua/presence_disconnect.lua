-- After the prelude and release_socket. Returns {version, {online}}.
-- Idempotent: a socket no longer registered (a departure retried after a timeout that did run
-- here, or entries lost with a Redis restart) changes nothing.
local held = release_socket()
local field = ARGV[1] .. ARGV[2]
if held == 0 then
  local _, unchanged = tally(KEYS[1], ARGV[1])
  return {0, unchanged}
end
if redis.call('HINCRBY', KEYS[1], field, -1) <= 0 then redis.call('HDEL', KEYS[1], field) end
local counts, names, own_fields = tally(KEYS[1], ARGV[1])
if own_fields == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
local version = 0
if counts[ARGV[2]] == nil then version = redis.call('INCR', KEYS[6]) end
return {version, names}
