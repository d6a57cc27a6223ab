# How each kind of Crater target is built, so that each variant is one call in
# CMakeLists.txt (the test executables' helpers are in spec/CMakeLists.txt).
#
# Uses, from the including file: CRATER_CORE_SRC (host/src/*.c but main.c,
# cli_*.c and luadir.c), CRATER_CLI_SRC (main.c, cli_*.c), CRATER_WARNINGS,
# PROJECT_VERSION and the llhttp_objs object library.

# ASan + UBSan, at -O1 (quick enough for the e2e suite). A sanitized build is
# also the one with the test hooks: CRATER_FAULT_INJECTION=1 (host/src/alloc.c),
# which the non-sanitized libraries never get.
set(CRATER_SAN_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
  -fno-sanitize-recover=undefined)
# What a sanitized program runs with in the tests: a leak fails it, UBSan
# stops at the first report and prints where, and a report exits 23, so a
# test expecting crater to exit 1 or 2 cannot take one for the other.
# CRATER_ASAN=1 tells spec/e2e/harness.py that it runs a sanitized build.
set(CRATER_SAN_ENV CRATER_ASAN=1 "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# Makes target a sanitized one: compiled (and, unless it is a library that is
# only archived, linked) with CRATER_SAN_FLAGS, and with the test hooks.
# Whatever is built on it with crater_cli() or crater_unit_tests() follows
# (the CRATER_SANITIZE property says so).
function(crater_sanitize target)
  target_compile_options(${target} PRIVATE ${CRATER_SAN_FLAGS} -O1)
  target_compile_definitions(${target} PRIVATE CRATER_FAULT_INJECTION=1)
  get_target_property(kind ${target} TYPE)
  if(NOT kind MATCHES "^(STATIC|OBJECT)_LIBRARY$")
    target_link_options(${target} PRIVATE ${CRATER_SAN_FLAGS})
  endif()
  set_target_properties(${target} PROPERTIES CRATER_SANITIZE ON)
endfunction()

# If lib is sanitized, so is target.
function(crater_sanitize_like target lib)
  get_target_property(sanitized ${lib} CRATER_SANITIZE)
  if(sanitized)
    crater_sanitize(${target})
  endif()
endfunction()

# crater_library(<name> STATIC|SHARED|OBJECT [OBJECTS <object library>]
#                [LUA_DIR <dir> [LUA_RELATIVE <path>]] [SANITIZE]
#                [PROPERTIES <target properties>...])
#
# A variant of the C core: compiled from CRATER_CORE_SRC, or made of the
# objects of an OBJECT variant compiled once (OBJECTS). Every kind but OBJECT
# holds llhttp too, so an installed libcrater needs no llhttp of its own.
#
# LUA_DIR adds luadir.c, compiled for this variant, with its default directory
# of the Lua files; LUA_RELATIVE is that directory relative to the library's
# own (the installed kinds, found with dladdr; see luadir.c). SANITIZE: see
# crater_sanitize().
function(crater_library name kind)
  cmake_parse_arguments(PARSE_ARGV 2 arg "SANITIZE" "OBJECTS;LUA_DIR;LUA_RELATIVE" "PROPERTIES")
  if(arg_OBJECTS)
    set(src $<TARGET_OBJECTS:${arg_OBJECTS}>)
  else()
    set(src ${CRATER_CORE_SRC})
  endif()
  if(NOT kind STREQUAL "OBJECT")
    list(APPEND src $<TARGET_OBJECTS:llhttp_objs>)
  endif()
  if(DEFINED arg_LUA_DIR)
    list(APPEND src ${PROJECT_SOURCE_DIR}/host/src/luadir.c)
  endif()
  add_library(${name} ${kind} ${src})

  target_include_directories(${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/host/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${PROJECT_SOURCE_DIR}/host/src ${LLHTTP_INC_DIR})
  target_link_libraries(${name} PUBLIC PkgConfig::LIBUV PkgConfig::LUAJIT PkgConfig::OPENSSL PkgConfig::SQLITE3
    PkgConfig::LIBPQ PkgConfig::ZLIB PkgConfig::BROTLIENC)
  if(NOT kind STREQUAL "OBJECT")
    target_link_libraries(${name} PRIVATE m ${CMAKE_DL_LIBS})
  endif()
  target_compile_options(${name} PRIVATE ${CRATER_WARNINGS})
  target_compile_definitions(${name} PRIVATE CRATER_BUILDING
    CRATER_VERSION_STRING="${PROJECT_VERSION}")
  if(DEFINED arg_LUA_DIR)
    target_compile_definitions(${name} PRIVATE
      CRATER_LUA_DIR="${arg_LUA_DIR}" CRATER_LUA_RELATIVE="${arg_LUA_RELATIVE}")
  endif()
  # Only the crater_* API is visible outside libcrater.so (symbols_exported).
  set_target_properties(${name} PROPERTIES
    POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden ${arg_PROPERTIES})
  if(arg_SANITIZE)
    crater_sanitize(${name})
  endif()
endfunction()

# crater_cli(<name> LIBRARY <crater library> [PROPERTIES <target properties>...])
#
# The `crater` command (main.c, cli_*.c) on a variant of the core; sanitized
# when that variant is.
function(crater_cli name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "LIBRARY" "PROPERTIES")
  add_executable(${name} ${CRATER_CLI_SRC})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/host/src)
  target_link_libraries(${name} PRIVATE ${arg_LIBRARY})
  target_compile_options(${name} PRIVATE ${CRATER_WARNINGS})
  target_compile_definitions(${name} PRIVATE CRATER_VERSION_STRING="${PROJECT_VERSION}")
  # LuaJIT's FFI resolves crater_ffi_* through the executable's dynamic symbols.
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON ${arg_PROPERTIES})
  crater_sanitize_like(${name} ${arg_LIBRARY})
endfunction()
