-- What every script shares: its arguments, the clock rule, and writing a whole session.
--
-- Every key a script touches arrives in KEYS (Python computes the names), so the scripts can run
-- on Redis Cluster (with a hash-tagged prefix, see RedisStore) and behind proxies that route by
-- key. A user's index set is needed only when a session has an owner, and the owner of an
-- existing session is only known inside the script; so:
--
--   ARGV[1] = n, the number of index sets given; ARGV[2 .. n+1] = their user ids;
--   KEYS[#KEYS-n+1 .. #KEYS] = those sets, in the same order; A = the rest of ARGV.
--
-- A script that finds it must write the index of a user it was not given writes nothing and
-- returns {'need-index', user}; RedisStore runs it again with that set too. Nothing is written
-- before that check, so the retry is as atomic as a single run.

local INDEX, A = {}, {}
do
  local n = tonumber(ARGV[1])
  local base = #KEYS - n
  for i = 1, n do INDEX[ARGV[1 + i]] = KEYS[base + i] end
  for i = n + 2, #ARGV do A[#A + 1] = ARGV[i] end
end

-- The user (among the arguments: '' and false mean none) whose index set was not given, if any.
local function missing(...)
  for _, user in ipairs({...}) do
    if user and user ~= '' and INDEX[user] == nil then return user end
  end
  return nil
end

local function need(user)
  return {'need-index', user}
end

-- The injected clock decides: a session is live while its expiry is after "now".
local function is_live(expires, now)
  return expires and tonumber(expires) > now
end

-- A user's index set lives as long as their longest session: its TTL only ever grows.
local function extend(ukey, ttl)
  if redis.call('TTL', ukey) < ttl then redis.call('EXPIRE', ukey, ttl) end
end

-- Write a whole session (hash skey, id sid): replacing a live one keeps created_at, and meta
-- when meta == ''. Returns the user whose index set is missing (having written nothing), or nil.
local function put(skey, sid, data, user, expires, meta, now_s, ttl)
  local old = redis.call('HMGET', skey, 'u', 'c', 'e', 'm')
  local absent = missing(user, old[1])
  if absent then return absent end
  local live = is_live(old[3], tonumber(now_s))
  local created = now_s
  if live and old[2] then created = old[2] end
  if meta == '' then
    meta = '{}'
    if live and old[4] then meta = old[4] end
  end
  if old[1] and old[1] ~= user then redis.call('SREM', INDEX[old[1]], sid) end
  redis.call('DEL', skey)
  redis.call('HSET', skey, 'd', data, 'c', created, 't', now_s, 'e', expires, 'm', meta)
  if user ~= '' then redis.call('HSET', skey, 'u', user) end
  redis.call('EXPIRE', skey, ttl)
  if user ~= '' then
    redis.call('SADD', INDEX[user], sid)
    extend(INDEX[user], ttl)
  end
  return nil
end
