-- After the prelude. KEYS: (unused), leases. ARGV: key base, most processes to reap in one call.
-- Returns {{room id, {usernames now offline}, version}, ...}.
local base = ARGV[1]
local changes = {}
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. clock, 'LIMIT', 0, ARGV[2])
for _, process in ipairs(dead) do
  local room_index = base .. ':proc:' .. process .. ':rooms'
  for _, room_id in ipairs(redis.call('SMEMBERS', room_index)) do
    local room_key = base .. ':room:' .. room_id
    local flat = redis.call('HGETALL', room_key)
    local gone = {}
    for i = 1, #flat, 2 do
      if string.sub(flat[i], 1, 32) == process then
        redis.call('HDEL', room_key, flat[i])
        table.insert(gone, string.sub(flat[i], 33))
      end
    end
    local counts, names = tally(room_key, process)
    local offline = {}
    for _, name in ipairs(gone) do
      if counts[name] == nil then table.insert(offline, name) end
    end
    if #offline > 0 then
      table.insert(changes, {room_id, offline, redis.call('INCR', base .. ':version')})
    end
  end
  local user_index = base .. ':proc:' .. process .. ':users'
  for _, user_id in ipairs(redis.call('SMEMBERS', user_index)) do
    local user_key = base .. ':user:' .. user_id
    local flat = redis.call('HGETALL', user_key)
    for i = 1, #flat, 2 do
      if flat[i + 1] == process then redis.call('HDEL', user_key, flat[i]) end
    end
  end
  redis.call('DEL', room_index, user_index)
  redis.call('ZREM', KEYS[2], process)
end
return changes
