/// The Lua code run once in every new Lua state, before any script: the `redis` API written in
/// Lua over three Swift primitives, the protected globals and the error handler.
///
/// Scripts run with `G` (the protected view of the globals) as their environment, as Redis 7.0's
/// read-only globals: reading a missing global, or writing any, is an error with Redis's text.
/// The error handler turns every error into a table `{err=..., source=..., line=...}` with the
/// position of the script line that raised it (the innermost frame of the user's code).
enum LuaPrelude {
    static let chunkName = "=strata"

    static let source = #"""
local real = _G
local dbg = debug
local raw_call, raw_pcall, raw_sha1, raw_log, raw_setresp, raw_set_repl =
      __strata_call, __strata_pcall, __strata_sha1, __strata_log, __strata_setresp, __strata_set_repl
local error, type, tostring, tonumber, select, setfenv, setmetatable, rawget, rawset, pcall =
      error, type, tostring, tonumber, select, setfenv, setmetatable, rawget, rawset, pcall
local loadstring, load, getinfo, floor, ceil = loadstring, load, dbg.getinfo, math.floor, math.ceil
local sub, find, match = string.sub, string.find, string.match

local function readonly() error('Attempt to modify a readonly table', 2) end
local real_of = {}
local function protect(t)
  local proxy = {}
  real_of[proxy] = t
  setmetatable(proxy, {__index = t, __newindex = readonly, __metatable = false})
  return proxy
end
local function truncate(n) if n >= 0 then return floor(n) end return ceil(n) end

-- Redis's luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR.
local function error_table(e)
  local code, msg
  if sub(e, 1, 1) == '-' then
    local space = find(e, ' ', 1, true)
    if space then code, msg = sub(e, 2, space - 1), sub(e, space + 1) else code, msg = 'ERR', sub(e, 2) end
  else
    code, msg = 'ERR', e
  end
  msg = match(msg, '^[\r\n]*(.-)[\r\n]*$')
  return {err = code .. ' ' .. msg}
end

local redis = {}
-- redis.call and the functions that raise errors are C functions, as in Redis: the error
-- handler reports the line of the script that called them, even from a tail call.
redis.call, redis.pcall, redis.sha1hex, redis.log = raw_call, raw_pcall, raw_sha1, raw_log
redis.setresp, redis.set_repl = raw_setresp, raw_set_repl
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  if sub(e, 1, 1) ~= '-' then e = '-' .. e end
  return error_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  return {ok = s}
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = '7.0.15', 458767

local libs = {redis = protect(redis)}
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'bit'}) do
  libs[name] = protect(real[name])
end
for _, name in ipairs({'print', 'dofile', 'loadfile', 'module', 'require', 'newproxy', 'getfenv', 'setfenv',
                       'os', 'io', 'package', 'debug', '__strata_call', '__strata_pcall', '__strata_sha1', '__strata_log',
                       '__strata_setresp', '__strata_set_repl'}) do
  real[name] = nil
end

-- What scripts see: G (empty, read-only) looks names up in `visible`, a copy of the allowed
-- globals with the protected libraries, whose own __index raises for a missing name. The chain
-- is followed by the VM, so a global read costs no Lua call. KEYS and ARGV are set in `visible`.
local G = {}
local visible = {}
-- Builtins that would reach past the protection.
real.rawset = function(t, k, v)
  if t == G or real_of[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
real.rawget = function(t, k)
  if t == G then return rawget(visible, k) end
  return rawget(real_of[t] or t, k)
end
real.loadstring = function(...)
  local f, e = loadstring(...)
  if f then setfenv(f, G) end
  return f, e
end
real.load = function(...)
  local f, e = load(...)
  if f then setfenv(f, G) end
  return f, e
end
-- Redis 7's pcall: an error raised as {err=...} (redis.call's) is caught as its message.
local function caught(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == 'table' and type(e.err) == 'string' then return false, e.err end
  return false, e
end
real.pcall = function(...) return caught(pcall(...)) end

for k, v in pairs(real) do visible[k] = v end
for k, v in pairs(libs) do visible[k] = v end
visible._G = G
setmetatable(visible, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = readonly,
  __metatable = false,
})
setmetatable(G, {__index = visible, __newindex = readonly, __metatable = protect({})})

-- The position is that of the innermost frame that is neither C nor this prelude (Redis's
-- handler takes the caller of a C function; here some builtins are Lua wrappers).
local function handler(err)
  local info
  local level = 2
  while true do
    local i = getinfo(level, 'Sl')
    if i == nil then break end
    if i.what ~= 'C' and i.source ~= '=strata' then info = i break end
    level = level + 1
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if info and info.currentline > 0 then
    rawset(err, 'source', info.source)
    rawset(err, 'line', info.currentline)
  end
  return err
end

return handler, G, visible
"""#
}
