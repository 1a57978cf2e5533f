-- SessionStore.acquire.  KEYS: the lease.  A: owner, now, expires, gc ttl (seconds).
-- 1 for the one caller that finds the lease free (missing, or expired by the injected clock).
local held = redis.call('HGET', KEYS[1], 'e')
if held and tonumber(held) > tonumber(A[2]) then return 0 end
redis.call('HSET', KEYS[1], 'o', A[1], 'e', A[3])
redis.call('EXPIRE', KEYS[1], tonumber(A[4]))
return 1
