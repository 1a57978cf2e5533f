-- SessionStore.touch.  KEYS: the session hash, then index sets (the owner's, to extend its TTL).
-- A: now, expires, ttl.  Returns 1, or 0 when the session is not live.
local vals = redis.call('HMGET', KEYS[1], 'e', 'u')
if not is_live(vals[1], tonumber(A[1])) then return 0 end
local absent = missing(vals[2])
if absent then return need(absent) end
redis.call('HSET', KEYS[1], 't', A[1], 'e', A[2])
local ttl = tonumber(A[3])
redis.call('EXPIRE', KEYS[1], ttl)
if vals[2] then extend(INDEX[vals[2]], ttl) end
return 1
