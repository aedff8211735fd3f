// Debian's Lua 5.1 (liblua5.1-0-dev), lua-cjson (lua-cjson-dev) and Lua BitOp (lua-bitop-dev).
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>
#include <lua-bitop.h>

// Lua's function-like macros, which Swift cannot import.
static inline void clua_pop(lua_State *L, int n) { lua_settop(L, -(n) - 1); }
static inline void clua_newtable(lua_State *L) { lua_createtable(L, 0, 0); }
static inline int clua_isnil(lua_State *L, int i) { return lua_type(L, i) == LUA_TNIL; }
static inline int clua_upvalueindex(int i) { return LUA_GLOBALSINDEX - i; }
static inline int clua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int clua_globalsindex(void) { return LUA_GLOBALSINDEX; }
static inline void clua_setglobal(lua_State *L, const char *name) { lua_setfield(L, LUA_GLOBALSINDEX, name); }
static inline void clua_getglobal(lua_State *L, const char *name) { lua_getfield(L, LUA_GLOBALSINDEX, name); }
static inline void clua_pushcfunction(lua_State *L, lua_CFunction f) { lua_pushcclosure(L, f, 0); }
static inline int clua_maskcount(void) { return LUA_MASKCOUNT; }
