-- Shared by the presence scripts: the Redis clock, a cached "is this process's lease alive",
-- and the online tally of one room hash (fields are <32-hex process id><username> -> socket
-- count), which removes the fields of dead processes as it goes.
local clock_parts = redis.call('TIME')
local clock = tonumber(clock_parts[1]) + tonumber(clock_parts[2]) / 1000000
local leases = {}
local function alive(process)
  local known = leases[process]
  if known == nil then
    local deadline = redis.call('ZSCORE', KEYS[2], process)
    known = deadline ~= false and deadline ~= nil and tonumber(deadline) >= clock
    leases[process] = known
  end
  return known
end
local function tally(room_key, own)
  local flat = redis.call('HGETALL', room_key)
  local counts, names, own_fields = {}, {}, 0
  for i = 1, #flat, 2 do
    local process = string.sub(flat[i], 1, 32)
    if alive(process) then
      local name = string.sub(flat[i], 33)
      if counts[name] == nil then table.insert(names, name) end
      counts[name] = (counts[name] or 0) + tonumber(flat[i + 1])
      if process == own then own_fields = own_fields + 1 end
    else
      redis.call('HDEL', room_key, flat[i])
    end
  end
  return counts, names, own_fields
end
