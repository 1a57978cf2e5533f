-- SessionStore.destroy.  KEYS: the session hash, its CSRF hash, then index sets (the owner's).
-- A: sid
local user = redis.call('HGET', KEYS[1], 'u')
local absent = missing(user)
if absent then return need(absent) end
redis.call('DEL', KEYS[1], KEYS[2])
if user then redis.call('SREM', INDEX[user], A[1]) end
return 1
