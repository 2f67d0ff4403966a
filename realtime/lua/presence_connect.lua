-- After the prelude and release_socket. Returns {sockets the user holds (-1: over the cap,
-- nothing written), version, {online}}.
redis.call('HSET', KEYS[4], ARGV[5], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[6])
local flat = redis.call('HGETALL', KEYS[4])
-- A field is a socket's channel, or "<channel>#<room>" for one room of a many-room socket:
-- the cap counts sockets (distinct channels), not rooms.
local sockets = 0
local seen = {}
for i = 1, #flat, 2 do
  if alive(flat[i + 1]) then
    local socket = string.match(flat[i], '^[^#]*')
    if not seen[socket] then
      seen[socket] = true
      sockets = sockets + 1
    end
  else
    redis.call('HDEL', KEYS[4], flat[i])
  end
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
