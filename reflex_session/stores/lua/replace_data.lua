-- SessionStore.replace_data.  KEYS: the session hash.  A: now, data.
if not is_live(redis.call('HGET', KEYS[1], 'e'), tonumber(A[1])) then return 0 end
redis.call('HSET', KEYS[1], 'd', A[2])
return 1
