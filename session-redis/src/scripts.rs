//! The server-side scripts: each write is one atomic round trip.
//!
//! A session is a hash under `{prefix}s:{key}` with fields `v` (version), `x` (idle expiry,
//! epoch milliseconds), `d` (the encoded record), `o` (owner, empty for none) and, on one
//! server, `e` (the instant its owner's set is kept live until), and a native expiry at `x`.
//! An owner's sessions are a set under `{prefix}o:{owner}` whose own expiry stays past its
//! longest-lived member's, by at most one idle period, so abandoned sets disappear too. The
//! caller passes its clock (`now`, epoch milliseconds), so a record the application considers
//! expired is treated as gone even if the server's clock disagrees by a few milliseconds.

use std::sync::LazyLock;

use redis::Script;

/// Shared helpers, prepended to the scripts that touch the owner index. A live session is
/// always a member of its owner's set, and the set lives past every member's expiry (reads
/// only drop members that expired or changed owner).
///
/// `owner_keep` adds the member and keeps the set live one idle period past the member's
/// expiry (`expires + (expires - now)`), and returns the instant the set is now live until.
/// The session's hash keeps that instant in its field `e`, so a save or touch whose new expiry
/// is still within it leaves the set alone: with sliding expiry, the set is touched once per
/// idle period of a session rather than on every save.
const OWNER_HELPERS: &str = r#"
local function owner_keep(set, member, expires, now)
  redis.call('SADD', set, member)
  local x, t = tonumber(expires), tonumber(now)
  local target = x
  if x > t then target = x + (x - t) end
  local ttl = redis.call('PTTL', set)
  if ttl >= 0 and t + ttl >= target then return t + ttl end
  redis.call('PEXPIREAT', set, target)
  return target
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
if ARGV[4] ~= '' then
  local e = owner_keep(ARGV[6] .. ARGV[4], ARGV[7], ARGV[2], ARGV[5])
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4], 'e', e)
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"#
    ))
});

/// KEYS[1] session; ARGV: expected version, expires, data, owner, now, owner prefix, member,
/// next version (the expected one plus one, so the script converts no version).
/// Returns the new version, -1 when the record is gone, -2 on a version mismatch.
///
/// The work per save: one `HMGET`, one `HSET` and one `PEXPIREAT`; the owner's set only when
/// the owner changed or the new expiry passes the one the set was last kept live for.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o', 'e')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return -1 end
if h[1] ~= ARGV[1] and tonumber(h[1]) ~= tonumber(ARGV[1]) then return -2 end
local old = h[3] or ''
local keep = false
if old ~= ARGV[4] then
  if old ~= '' then redis.call('SREM', ARGV[6] .. old, ARGV[7]) end
  keep = ARGV[4] ~= ''
elseif ARGV[4] ~= '' then
  local e = tonumber(h[4])
  keep = not e or e < tonumber(ARGV[2])
end
if keep then
  local e = owner_keep(ARGV[6] .. ARGV[4], ARGV[7], ARGV[2], ARGV[5])
  redis.call('HSET', KEYS[1], 'v', ARGV[8], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4], 'e', e)
else
  redis.call('HSET', KEYS[1], 'v', ARGV[8], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return tonumber(ARGV[8])
"#
    ))
});

/// KEYS[1] session; ARGV: expires, now, owner prefix, member. Returns 1, or 0 when gone.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
local h = redis.call('HMGET', KEYS[1], 'x', 'o', 'e')
if not h[1] or tonumber(h[1]) <= tonumber(ARGV[2]) then return 0 end
local kept = tonumber(h[3])
if h[2] and h[2] ~= '' and (not kept or kept < tonumber(ARGV[1])) then
  local e = owner_keep(ARGV[3] .. h[2], ARGV[4], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[1], 'x', ARGV[1], 'e', e)
else
  redis.call('HSET', KEYS[1], 'x', ARGV[1])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
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
//
// As on one server, the session's hash keeps in `e` the instant its owner's set is kept live
// until. A save or touch whose owner and new expiry the set already covers is one call; one
// that needs the set extended answers -3 with the owner, and the caller extends the set
// (`OWNER_ADD`, which answers the new `e`) and calls again with that `e`.

/// KEYS[1] owner set; ARGV: member, expires, now. Adds the member, keeps the set live one idle
/// period past `expires`, and returns the instant it is now live until (the session's `e`).
pub(crate) static OWNER_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{OWNER_HELPERS}{}",
        r#"
return owner_keep(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
"#
    ))
});

/// KEYS[1] session; ARGV: version, expires, data, owner, now, e (from `OWNER_ADD`; '' without
/// an owner). Returns `{1, old owner}` when created (the old owner of an expired record it
/// replaced, or ''), `{0, ''}` when a live record holds the key.
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
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4], 'e', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {1, old}
"#,
    )
});

/// KEYS[1] session; ARGV: expected version, expires, data, owner, now, next version, e (''
/// when the caller has not just extended the owner's set). Returns `{new version, old
/// owner}`, `{-1, ''}` when the record is gone, `{-2, ''}` on a version mismatch, and `{-3,
/// old owner}`, writing nothing, when the owner's set must be extended first.
pub(crate) static CLUSTER_SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o', 'e')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return {-1, ''} end
if h[1] ~= ARGV[1] and tonumber(h[1]) ~= tonumber(ARGV[1]) then return {-2, ''} end
local old = h[3] or ''
if ARGV[4] ~= '' and ARGV[7] == '' then
  local kept = tonumber(h[4])
  if old ~= ARGV[4] or not kept or kept < tonumber(ARGV[2]) then return {-3, old} end
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[6], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4], 'e', ARGV[7])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[6], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {tonumber(ARGV[6]), old}
"#,
    )
});

/// KEYS[1] session; ARGV: expires, now, e and the owner it was made for ('' and '' when the
/// caller has not just extended a set). Returns `{1, owner}`, `{0, ''}` when gone, and `{-3,
/// owner}`, writing nothing, when that owner's set must be extended first.
pub(crate) static CLUSTER_TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local h = redis.call('HMGET', KEYS[1], 'x', 'o', 'e')
if not h[1] or tonumber(h[1]) <= tonumber(ARGV[2]) then return {0, ''} end
local owner = h[2] or ''
local fresh = ARGV[3] ~= '' and ARGV[4] == owner
if owner ~= '' and not fresh then
  local kept = tonumber(h[3])
  if not kept or kept < tonumber(ARGV[1]) then return {-3, owner} end
end
if fresh then
  redis.call('HSET', KEYS[1], 'x', ARGV[1], 'e', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'x', ARGV[1])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return {1, owner}
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
