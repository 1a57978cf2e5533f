-- SessionStore.pluck.  KEYS: the session hash.  A: now, the key as JSON text.
-- Returns the value's JSON text, or false.
local vals = redis.call('HMGET', KEYS[1], 'e', 'd')
if not is_live(vals[1], tonumber(A[1])) then return false end
local list = members(vals[2])
for k = 1, #list do
  if list[k][1] == A[2] then
    local value = list[k][2]
    table.remove(list, k)
    redis.call('HSET', KEYS[1], 'd', render(list))
    return value
  end
end
return false
