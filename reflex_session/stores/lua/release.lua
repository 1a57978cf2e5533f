-- SessionStore.release.  KEYS: the lease.  A: owner.
-- 1 when the owner still held the lease and it is gone now; another owner's lease stays.
if redis.call('HGET', KEYS[1], 'o') ~= A[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
