-- Both socket scripts: KEYS: room hash, leases, this process's room index, user hash (channel ->
-- process), this process's user index, the version counter. ARGV: process, username, room id,
-- ttl, channel, user id, most sockets per user (connect only).
local function release_socket()
  local held = redis.call('HDEL', KEYS[4], ARGV[5])
  for _, process in ipairs(redis.call('HVALS', KEYS[4])) do
    if process == ARGV[1] then return held end
  end
  redis.call('SREM', KEYS[5], ARGV[6])
  return held
end
