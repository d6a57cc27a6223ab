/* vm_mem.c - a VM's memory ceiling (see vm_mem.h).
 *
 * LuaJIT (GC64) has no ceiling of its own: a handler that keeps allocating
 * takes the process's memory, and an allocation that then fails where no
 * protected call catches it is a panic. So the VM allocates through
 * mem_alloc, which counts its bytes and refuses growth past the ceiling
 * only while Lua runs in a protected call: the request's Lua gets "not
 * enough memory", the rest of the server goes on. */
#include "vm_mem.h"

/* Every allocation of the VM comes here: the common case is a compare and
 * a tail call. */
static void *mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  crater__vm_mem *m = ud;
  if (ptr == NULL) osize = 0; /* then it is a type tag, not a size */
  size_t used = m->used - osize + nsize;
  if (__builtin_expect(used > m->cap, 0) && nsize > osize && *m->armed > 0) {
    m->refused++;
    m->hit = 1;
    m->cap = m->limit + m->reserve;
    return NULL;
  }
  /* Counted first, so that this is a tail call: a growth the system then
   * refuses stays counted until crater__vm_mem_recover counts afresh (the
   * Lua that gets "not enough memory" then says so: binding.c's
   * out_of_memory). */
  m->used = used;
  return m->f(m->ud, ptr, osize, nsize);
}

void crater__vm_mem_install(lua_State *L, crater__vm_mem *m, size_t limit, const int *armed) {
  m->f = lua_getallocf(L, &m->ud);
  m->limit = limit;
  /* An eighth, at least 1 MiB: the error's problem+json and log line. */
  m->reserve = limit / 8 > (1u << 20) ? limit / 8 : (1u << 20);
  m->used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  m->hit = 0;
  m->cap = limit;
  m->armed = armed;
  m->refused = 0;
  lua_setallocf(L, mem_alloc, m);
}

void crater__vm_mem_uninstall(lua_State *L, crater__vm_mem *m) {
  if (m->f != NULL) lua_setallocf(L, m->f, m->ud);
}

static int full_gc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}

int crater__vm_mem_recover(lua_State *L, crater__vm_mem *m) {
  /* Finalizers run in a collection and may raise: keep it protected. */
  if (lua_cpcall(L, full_gc, NULL) != 0) lua_pop(L, 1);
  m->used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  m->hit = 0;
  m->cap = m->limit;
  return m->limit > 0 && m->used > m->limit / 4 * 3;
}
