-- SessionStore.consume_csrf.  KEYS: the session's CSRF hash.  A: digest, now.
-- 1 for the one caller that removes an unexpired digest.
local expires = redis.call('HGET', KEYS[1], A[1])
if not expires then return 0 end
redis.call('HDEL', KEYS[1], A[1])
if tonumber(expires) > tonumber(A[2]) then return 1 end
return 0
