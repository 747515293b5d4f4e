//! The server-side scripts: each write is one atomic round trip.
//!
//! A session is a hash under `{prefix}s:{key}` with fields `v` (version), `x` (idle expiry,
//! epoch milliseconds), `d` (the encoded record) and `o` (owner, empty for none), and a native
//! expiry at `x`. An owner's sessions are a set under `{prefix}o:{owner}` whose own expiry follows
//! its longest-lived member, so abandoned sets disappear too. The caller passes its clock (`now`,
//! epoch milliseconds), so a record the application considers expired is treated as gone even if
//! the server's clock disagrees by a few milliseconds.

use std::sync::LazyLock;

use redis::Script;

/// Shared helpers, prepended to the scripts that touch the owner index. A live session is
/// always a member of its owner's set (the set outlives its longest-lived member, and reads
/// only drop members that expired or changed owner), so a save that keeps the owner only
/// extends the set's life.
const OWNER_HELPERS: &str = r#"
local function owner_extend(set, expires, now)
  local ttl = redis.call('PTTL', set)
  if ttl < 0 or tonumber(now) + ttl < tonumber(expires) then
    redis.call('PEXPIREAT', set, expires)
  end
end
local function owner_add(set, member, expires, now)
  redis.call('SADD', set, member)
  owner_extend(set, expires, now)
end
"#;

/// KEYS[1] session; ARGV: version, expires, data, owner, now, owner prefix, member.
/// Returns 1 when created, 0 when a live record holds the key.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
local x = redis.call('HGET', KEYS[1], 'x')
if x then
  if tonumber(x) > tonumber(ARGV[5]) then return 0 end
  local old = redis.call('HGET', KEYS[1], 'o')
  if old and old ~= '' then redis.call('SREM', ARGV[6] .. old, ARGV[7]) end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then owner_add(ARGV[6] .. ARGV[4], ARGV[7], ARGV[2], ARGV[5]) end
return 1
"#
    ))
});

/// KEYS[1] session; ARGV: expected version, expires, data, owner, now, owner prefix, member.
/// Returns the new version, -1 when the record is gone, -2 on a version mismatch.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return -1 end
if tonumber(h[1]) ~= tonumber(ARGV[1]) then return -2 end
local next = tonumber(h[1]) + 1
redis.call('HSET', KEYS[1], 'v', next, 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
local old = h[3] or ''
if old ~= ARGV[4] then
  if old ~= '' then redis.call('SREM', ARGV[6] .. old, ARGV[7]) end
  if ARGV[4] ~= '' then owner_add(ARGV[6] .. ARGV[4], ARGV[7], ARGV[2], ARGV[5]) end
elseif ARGV[4] ~= '' then
  owner_extend(ARGV[6] .. ARGV[4], ARGV[2], ARGV[5])
end
return next
"#
    ))
});

/// KEYS[1] session; ARGV: expires, now, owner prefix, member. Returns 1, or 0 when gone.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
local h = redis.call('HMGET', KEYS[1], 'x', 'o')
if not h[1] or tonumber(h[1]) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if h[2] and h[2] ~= '' then owner_add(ARGV[3] .. h[2], ARGV[4], ARGV[1], ARGV[2]) end
return 1
"#
    ))
});

/// KEYS[1] session; ARGV: owner prefix, member. Deletes the record and its index entry.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local o = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
if o and o ~= '' then redis.call('SREM', ARGV[1] .. o, ARGV[2]) end
return 1
"#,
    )
});

/// KEYS[1] owner set; ARGV: session prefix, owner, now. Returns the live members and drops
/// the members whose session expired, was deleted or changed owner.
pub(crate) static LIST_BY_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local live = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. m, 'x', 'o')
  if h[1] and tonumber(h[1]) > tonumber(ARGV[3]) and h[2] == ARGV[2] then
    table.insert(live, m)
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return live
"#,
    )
});

/// KEYS[1] owner set; ARGV: session prefix, owner, now. Deletes the owner's sessions and the
/// set; returns how many live sessions it deleted.
pub(crate) static DELETE_BY_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local deleted = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. m, 'x', 'o')
  if h[2] == ARGV[2] then
    if h[1] and tonumber(h[1]) > tonumber(ARGV[3]) then deleted = deleted + 1 end
    redis.call('DEL', ARGV[1] .. m)
  end
end
redis.call('DEL', KEYS[1])
return deleted
"#,
    )
});

// In a cluster every script touches one key (no script crosses slots), and the owner index is
// kept by calls of its own, ordered so that a live session is always in its owner's set: the
// owner is added (and the set's life extended) before the session is written, and removed only
// after. A member an interrupted call leaves behind is dropped when the set is read.

/// KEYS[1] owner set; ARGV: member, expires, now. Adds the member and makes the set live at
/// least until `expires`.
pub(crate) static OWNER_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or tonumber(ARGV[3]) + ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
"#,
    )
});

/// KEYS[1] session; ARGV: version, expires, data, owner, now. Returns `{1, old owner}` when
/// created (the old owner of an expired record it replaced, or ''), `{0, ''}` when a live
/// record holds the key.
pub(crate) static CLUSTER_CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local old = ''
local x = redis.call('HGET', KEYS[1], 'x')
if x then
  if tonumber(x) > tonumber(ARGV[5]) then return {0, ''} end
  old = redis.call('HGET', KEYS[1], 'o') or ''
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {1, old}
"#,
    )
});

/// KEYS[1] session; ARGV: expected version, expires, data, owner, now. Returns `{new
/// version, old owner}`, `{-1, ''}` when the record is gone, `{-2, ''}` on a version mismatch.
pub(crate) static CLUSTER_SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return {-1, ''} end
if tonumber(h[1]) ~= tonumber(ARGV[1]) then return {-2, ''} end
local next = tonumber(h[1]) + 1
redis.call('HSET', KEYS[1], 'v', next, 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {next, h[3] or ''}
"#,
    )
});

/// KEYS[1] session; ARGV: expires, now. Returns 1, or 0 when gone.
pub(crate) static CLUSTER_TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local x = redis.call('HGET', KEYS[1], 'x')
if not x or tonumber(x) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"#,
    )
});

/// KEYS[1] session. Deletes it and returns its owner ('' for none).
pub(crate) static CLUSTER_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local o = redis.call('HGET', KEYS[1], 'o') or ''
redis.call('DEL', KEYS[1])
return o
"#,
    )
});

/// KEYS[1] session; ARGV: owner, now. Deletes the session if `owner` owns it: returns 1 when
/// it was live, 0 when it had expired, -1 when another owner (or none) has it.
pub(crate) static CLUSTER_DELETE_IF_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local h = redis.call('HMGET', KEYS[1], 'x', 'o')
if h[2] ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
if h[1] and tonumber(h[1]) > tonumber(ARGV[2]) then return 1 end
return 0
"#,
    )
});
