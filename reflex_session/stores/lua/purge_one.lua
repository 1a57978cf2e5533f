-- One session of SessionStore.purge_expired.  KEYS: the session hash, its CSRF hash, then index
-- sets (the owner's).  A: sid, now.  Deletes the session if the clock says it has expired.
local vals = redis.call('HMGET', KEYS[1], 'e', 'u')
if not vals[1] or is_live(vals[1], tonumber(A[2])) then return 0 end
local absent = missing(vals[2])
if absent then return need(absent) end
redis.call('DEL', KEYS[1], KEYS[2])
if vals[2] then redis.call('SREM', INDEX[vals[2]], A[1]) end
return 1
