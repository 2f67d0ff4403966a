-- After the prelude and release_socket. Returns {sockets the user holds (-1: over the cap,
-- nothing written), version, {online}}.
redis.call('HSET', KEYS[4], ARGV[5], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[6])
local flat = redis.call('HGETALL', KEYS[4])
local sockets = 0
for i = 1, #flat, 2 do
  if alive(flat[i + 1]) then sockets = sockets + 1 else redis.call('HDEL', KEYS[4], flat[i]) end
end
if sockets > tonumber(ARGV[7]) then
  release_socket()
  return {-1, 0, {}}
end
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ARGV[2], 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[3])
local counts, names = tally(KEYS[1], ARGV[1])
local version = 0
if counts[ARGV[2]] == 1 then version = redis.call('INCR', KEYS[6]) end
return {sockets, version, names}
