-- SessionStore.add_csrf.  KEYS: the session's CSRF hash (digest -> expiry).
-- A: digest, expires, now, limit, slack.  Drops expired digests, then the oldest over the limit.
local ckey = KEYS[1]
local now, limit = tonumber(A[3]), tonumber(A[4])
redis.call('HSET', ckey, A[1], A[2])
local all = redis.call('HGETALL', ckey)
local kept = {}
for k = 1, #all, 2 do
  local expires = tonumber(all[k + 1])
  if expires <= now then
    redis.call('HDEL', ckey, all[k])
  else
    kept[#kept + 1] = {all[k], expires}
  end
end
table.sort(kept, function(a, b) return a[2] < b[2] end)
local drop = #kept - limit
for k = 1, drop do redis.call('HDEL', ckey, kept[k][1]) end
if #kept > 0 and #kept > drop then
  local ttl = math.ceil(math.max(1, kept[#kept][2] - now)) + tonumber(A[5])
  redis.call('EXPIRE', ckey, ttl)
end
return 1
