-- SessionStore.merge.  KEYS: the session hash, then index sets (only used to create).
-- A: sid, now, patch, create ('1'/'0'), user ('' = none), expires, ttl.
-- Returns the new data's JSON text, or false when the session is not live and create is '0'.
local vals = redis.call('HMGET', KEYS[1], 'e', 'd')
if is_live(vals[1], tonumber(A[2])) then
  local data = merge(vals[2], A[3])
  redis.call('HSET', KEYS[1], 'd', data)
  return data
end
if A[4] ~= '1' then return false end
local data = merge('{}', A[3])
local absent = put(KEYS[1], A[1], data, A[5], A[6], '', A[2], tonumber(A[7]))
if absent then return need(absent) end
return data
