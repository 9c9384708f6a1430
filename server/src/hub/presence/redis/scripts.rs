//! The presence scripts. Each runs atomically in Redis and returns a member's
//! status before and after its change (`online`, `away` or `absent`), so two
//! nodes changing one member at once still announce each transition once.
//!
//! A channel's presence is a hash of `<node>/<connection>` to
//! `<active 0|1>\t<member id>\t<name>`. An entry counts only while its node
//! holds a lease (`<lease prefix><node>` exists).

/// `status(key, member, lease_prefix, also_alive)` → {status, name}.
/// `also_alive` names a node counted as alive even without a lease (the
/// sweep's "before": others saw the dead node's entries until now).
const STATUS: &str = r"
local function status(key, member, lease_prefix, also_alive)
  local fields = redis.call('HGETALL', key)
  local best, name = 'absent', ''
  local alive = {}
  for i = 1, #fields, 2 do
    local node = string.match(fields[i], '^(.*)/')
    local active, id, shown = string.match(fields[i + 1], '^(%d)\t([^\t]*)\t(.*)$')
    if id == member and node then
      if alive[node] == nil then
        alive[node] = node == also_alive or redis.call('EXISTS', lease_prefix .. node) == 1
      end
      if alive[node] then
        name = shown
        if active == '1' then best = 'online' elseif best == 'absent' then best = 'away' end
      end
    end
  end
  return {best, name}
end
";

fn with_status(body: &str) -> String {
    format!("{STATUS}\n{body}")
}

/// KEYS: presence hash, node's channel set. ARGV: field, value, member,
/// lease prefix, channel. Puts the entry (a join, or an activity change).
pub fn put() -> String {
    with_status(
        r"
local before = status(KEYS[1], ARGV[3], ARGV[4], '')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[5])
local after = status(KEYS[1], ARGV[3], ARGV[4], '')
return {before[1], after[1], after[2]}
",
    )
}

/// KEYS: presence hash. ARGV: field, member, lease prefix. Removes the entry.
pub fn remove() -> String {
    with_status(
        r"
local before = status(KEYS[1], ARGV[2], ARGV[3], '')
redis.call('HDEL', KEYS[1], ARGV[1])
local after = status(KEYS[1], ARGV[2], ARGV[3], '')
return {before[1], after[1], after[2]}
",
    )
}

/// KEYS: presence hash. ARGV: dead node, lease prefix. Removes every entry
/// of the dead node; returns {member, before, after, name} per member it had.
pub fn sweep_node() -> String {
    with_status(
        r"
local fields = redis.call('HGETALL', KEYS[1])
local members, dead = {}, {}
local prefix = ARGV[1] .. '/'
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then
    table.insert(dead, fields[i])
    local id = string.match(fields[i + 1], '^%d\t([^\t]*)\t')
    if id then members[id] = true end
  end
end
local out = {}
local befores = {}
for id, _ in pairs(members) do befores[id] = status(KEYS[1], id, ARGV[2], ARGV[1])[1] end
for _, field in ipairs(dead) do redis.call('HDEL', KEYS[1], field) end
for id, _ in pairs(members) do
  local after = status(KEYS[1], id, ARGV[2], '')
  table.insert(out, id)
  table.insert(out, befores[id])
  table.insert(out, after[1])
  table.insert(out, after[2])
end
return out
",
    )
}

/// KEYS: presence hash. ARGV: lease prefix. Everyone present, as
/// {member, status, name} triples.
pub const SNAPSHOT: &str = r"
local fields = redis.call('HGETALL', KEYS[1])
local alive, best, names, order = {}, {}, {}, {}
for i = 1, #fields, 2 do
  local node = string.match(fields[i], '^(.*)/')
  local active, id, shown = string.match(fields[i + 1], '^(%d)\t([^\t]*)\t(.*)$')
  if node and id then
    if alive[node] == nil then alive[node] = redis.call('EXISTS', ARGV[1] .. node) == 1 end
    if alive[node] then
      if best[id] == nil then table.insert(order, id) end
      names[id] = shown
      if active == '1' then best[id] = 'online' elseif best[id] == nil then best[id] = 'away' end
    end
  end
end
local out = {}
for _, id in ipairs(order) do
  table.insert(out, id)
  table.insert(out, best[id])
  table.insert(out, names[id])
end
return out
";
