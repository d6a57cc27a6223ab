/* vm_mem.h - vm_mem.c: a generation's memory ceiling (--max-memory),
 * enforced in the lua_Alloc the VM allocates through, and the recovery
 * after it was reached. */
#ifndef CRATER_VM_MEM_H
#define CRATER_VM_MEM_H

#include <stddef.h>

#include <lua.h>

typedef struct {
  lua_Alloc f;      /* LuaJIT's own allocator, which does the work */
  void *ud;
  size_t used;      /* bytes the VM holds */
  size_t limit;     /* the ceiling; 0: none (the allocator is not installed) */
  size_t reserve;   /* what may be used above it once it was reached, until the
                       next full collection: room for the error's answer */
  size_t cap;       /* limit, or limit + reserve while hit */
  int hit;          /* an allocation was refused since the last full collection
                       (here, or by the system: then the Lua that got "not enough
                       memory" set it) */
  const int *armed; /* nonzero while Lua runs inside a protected call (the
                       server's lua_armed): only then may an allocation fail,
                       since outside one an error is a panic */
  unsigned long refused; /* allocations refused so far */
} crater__vm_mem;

/* Puts m's allocator in front of L's (right after luaL_newstate). Without
 * it (no ceiling), m only records hit. */
void crater__vm_mem_install(lua_State *L, crater__vm_mem *m, size_t limit, const int *armed);
/* Gives L its own allocator back, before lua_close (which frees LuaJIT's
 * arena only when it sees its own allocator). */
void crater__vm_mem_uninstall(lua_State *L, crater__vm_mem *m);

/* After the ceiling was hit: a full collection (in a protected call).
 * Returns 1 when the VM holds more than three quarters of its ceiling even
 * then (what it keeps is live: a fresh generation is the way out), else 0. */
int crater__vm_mem_recover(lua_State *L, crater__vm_mem *m);

#endif
