-- The deep merge of reflex_session.session.deep_merge, on JSON *text*.
--
-- Why not Redis' bundled cjson: it does not keep data as it is. It decodes [] and {} alike and
-- encodes both as {}, writes 1.0 as 1 (a float comes back as an int), keeps 14 significant
-- digits (timestamps and integers past 2^53 change), reorders an object's keys and refuses a
-- lone surrogate escape. tests/stores/test_store_backends.py shows each of these on the server.
--
-- This scanner only splits an object into its members without decoding the values, so every
-- value the patch does not replace is copied byte for byte. It relies on what every writer of
-- the data (RedisStore, through base.encode_json) guarantees: compact JSON (no whitespace outside
-- strings), ASCII only, so a key has exactly one spelling and equal keys are equal strings.

local function skip_string(s, i)
  local j = i + 1
  while true do
    local p = string.find(s, '["\\]', j)
    if string.sub(s, p, p) == '\\' then j = p + 2 else return p end
  end
end

local function skip_value(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then return skip_string(s, i) end
  if c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local p = string.find(s, '[%[%]{}"]', j)
      local ch = string.sub(s, p, p)
      if ch == '"' then
        j = skip_string(s, p) + 1
      elseif ch == '{' or ch == '[' then
        depth = depth + 1
        j = p + 1
      else
        depth = depth - 1
        if depth == 0 then return p end
        j = p + 1
      end
    end
  end
  return string.find(s, '[,}%]]', i) - 1
end

-- The members of a JSON object text, in order, as {key text, value text} pairs.
local function members(s)
  local out, n, i = {}, #s, 2
  while i < n do
    local k_end = skip_string(s, i)
    local v_end = skip_value(s, k_end + 2)
    out[#out + 1] = {string.sub(s, i, k_end), string.sub(s, k_end + 2, v_end)}
    i = v_end + 2
  end
  return out
end

local function render(list)
  local parts = {}
  for k = 1, #list do parts[k] = list[k][1] .. ':' .. list[k][2] end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Objects merge, anything else replaces; new keys go last, as in a Python dict.
local function merge(current, patch)
  local list, index = members(current), {}
  for k = 1, #list do index[list[k][1]] = k end
  local changes = members(patch)
  for k = 1, #changes do
    local key, value = changes[k][1], changes[k][2]
    local pos = index[key]
    if pos == nil then
      list[#list + 1] = {key, value}
      index[key] = #list
    elseif string.byte(value, 1) == 123 and string.byte(list[pos][2], 1) == 123 then
      list[pos][2] = merge(list[pos][2], value)
    else
      list[pos][2] = value
    end
  end
  return render(list)
end
