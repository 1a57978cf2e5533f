-- SessionStore.set.  KEYS: the session hash, then index sets.
-- A: sid, now, data, user ('' = none), expires, meta ('' = keep), ttl
local absent = put(KEYS[1], A[1], A[3], A[4], A[5], A[6], A[2], tonumber(A[7]))
if absent then return need(absent) end
return 1
