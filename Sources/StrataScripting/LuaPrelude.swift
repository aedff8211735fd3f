/// The Lua code run once in every new Lua state, before any script: the `redis` API written in
/// Lua over three Swift primitives, the protected globals, the error handler, and the
/// environment of function libraries (`redis.register_function`, `load_library`).
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
-- FG is the environment of the functions of libraries (FUNCTION LOAD): the same globals as
-- G's without KEYS and ARGV, or, while a library's code runs, only the library API.
local FG = {}
local fvisible = {}
real.rawset = function(t, k, v)
  if t == G or t == FG or real_of[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
real.rawget = function(t, k)
  if t == G then return rawget(visible, k) end
  if t == FG then return rawget(fvisible, k) end
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

local handler

-- A table whose missing names are errors, as Redis's error metatable makes them.
local function strict(t)
  return setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end
      return v
    end,
    __newindex = readonly,
    __metatable = false,
  })
end

for k, v in pairs(visible) do fvisible[k] = v end
fvisible.KEYS, fvisible.ARGV = nil, nil
fvisible._G = FG
setmetatable(fvisible, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = readonly,
  __metatable = false,
})
local fmeta = {__index = fvisible, __newindex = readonly, __metatable = protect({})}
setmetatable(FG, fmeta)

-- redis.register_function, as Redis 7.0's luaRegisterFunction reads its arguments.
local registering
local flag_bits = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4, ['no-cluster'] = 8,
                   ['allow-cross-slot-keys'] = 16}
local lower, next = string.lower, next
local function isstring(v) local t = type(v) return t == 'string' or t == 'number' end
local function fail(message) error({err = 'ERR ' .. message}) end
local function read_flags(t)
  local bits, j = 0, 1
  while true do
    local v = t[j]
    if v == nil then return bits end
    if not isstring(v) then return nil end
    local bit = flag_bits[lower(tostring(v))]
    if not bit then return nil end
    if bits % (2 * bit) < bit then bits = bits + bit end
    j = j + 1
  end
end
local function register_function(...)
  local state = registering
  if not state then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
  local name, callback, description, flags
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in next, t do
      if not isstring(k) then fail('named argument key given to redis.register_function is not a string') end
      local key = lower(tostring(k))
      if key == 'function_name' then
        if not isstring(v) then fail('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif key == 'description' then
        if not isstring(v) then fail('description argument given to redis.register_function must be a string') end
        description = tostring(v)
      elseif key == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        callback = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then
          fail('flags argument to redis.register_function must be a table representing function flags')
        end
        flags = read_flags(v)
        if not flags then fail('unknown flag given') end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if not name then fail('redis.register_function must get a function name argument') end
    if not callback then fail('redis.register_function must get a callback argument') end
  else
    local a, b = ...
    if not isstring(a) then fail('first argument to redis.register_function must be a string') end
    if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    name, callback = tostring(a), b
  end
  if #name == 0 or find(name, '[^%w_]') then
    -- (sic: Redis 7.0 says "Library" for a function's name too)
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  if state.names[name] then fail('Function already exists in the library') end
  state.names[name] = true
  state.list[#state.list + 1] = {name = name, callback = callback, description = description, flags = flags or 0}
end

-- What a library's code sees while it runs: `redis` with register_function, log and the
-- constants, nothing else.
local load_redis = {register_function = register_function, log = raw_log,
                    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
                    REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
local load_visible = strict({redis = strict(load_redis)})

-- Runs a library's compiled code; returns true and the functions it registered, or false
-- and the error (a table, from the handler).
local function load_library(chunk)
  setfenv(chunk, FG)
  local state = {list = {}, names = {}}
  registering = state
  fmeta.__index = load_visible
  local ok, err = xpcall(chunk, handler)
  registering = nil
  fmeta.__index = fvisible
  if not ok then return false, err end
  return true, state.list
end

-- The position is that of the innermost frame that is neither C nor this prelude (Redis's
-- handler takes the caller of a C function; here some builtins are Lua wrappers).
handler = function(err)
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

return handler, G, visible, load_library
"""#
}
