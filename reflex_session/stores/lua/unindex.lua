-- The clean-up of SessionStore.list_for_user.  KEYS: the user's index set, then the hash of each
-- listed session (KEYS[k] for A[k], k >= 2).  A: user, then the sids Python found stale.
-- Removes a sid only if its session is still not the user's: a session re-created or moved
-- back to the user since Python read it stays listed, so destroy_for_user still finds it.
local removed = 0
for k = 2, #A do
  if redis.call('HGET', KEYS[k], 'u') ~= A[1] then
    removed = removed + redis.call('SREM', KEYS[1], A[k])
  end
end
return removed
