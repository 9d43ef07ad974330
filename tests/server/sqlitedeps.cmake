# Checks fsv_lib (every server object but main.c): only the SQLite store
# backend (store/sqlite/store_sqlite*.c) references sqlite3_ symbols; the
# sync, API, auth and command code reach the store through store/store.h
# only, so a second backend needs no change outside store/.  (The core,
# libfieldsync, uses SQLite for the device replica; it is a separate
# library and not checked here.)
# Run as: cmake -DLIB=path/to/libfsv_lib.a -P sqlitedeps.cmake
if(NOT LIB)
  message(FATAL_ERROR "pass -DLIB=/path/to/libfsv_lib.a")
endif()
find_program(NM nm REQUIRED)
execute_process(COMMAND ${NM} -A ${LIB} OUTPUT_VARIABLE syms
                RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
string(REPLACE "\n" ";" lines "${syms}")
set(backend 0)
set(objects "")
foreach(line ${lines})
  # "lib.a:object.c.o:   U sqlite3_step"
  if(NOT line MATCHES ":([^:]+\\.o): +[0-9a-fA-F]* *[A-Za-z] +(sqlite3_[A-Za-z0-9_]*)$")
    continue()
  endif()
  set(obj "${CMAKE_MATCH_1}")
  if(obj MATCHES "^store_sqlite[a-z_]*\\.c\\.o$")
    math(EXPR backend "${backend} + 1")
    continue()
  endif()
  message(SEND_ERROR "${obj} references ${CMAKE_MATCH_2}: only store/sqlite/ may use SQLite")
endforeach()
if(backend EQUAL 0)
  message(FATAL_ERROR "no sqlite3_ reference found in store_sqlite*.o: is ${LIB} the server library?")
endif()
message(STATUS "${backend} sqlite3_ references, all in store/sqlite/")
