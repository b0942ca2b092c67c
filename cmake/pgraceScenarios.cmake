# CMake helpers for projects that write pgrace scenarios. Loaded by pgrace's
# own build and by find_package(pgrace) (installed next to pgraceConfig.cmake).
#
# pgrace_add_scenarios(<target> SOURCES <file.cpp>... [SQL <file.sql>...]
#                      [SQL_NAMESPACE <namespace>])
#
#   Compiles the scenario files into <target> and links it with pgrace::pgrace.
#   <target> must be an executable or an OBJECT library linked into one: a
#   scenario registers itself from a static initialiser, which a linker
#   silently drops from a static library nobody references. Static and
#   shared libraries are therefore refused.
#
#   SQL files are compiled in: the scenarios `#include "embedded_sql.hpp"`
#   and call `<namespace>::embedded_sql("file.sql")` (default namespace
#   `pgrace_sql`), which returns the file's text as it was at build time, so
#   the program runs from any directory.
#
#   Linking <target> with pgrace::main as well gives it pgrace's command
#   line (pgrace list / run / explore / ...) over the scenarios it contains.

function(pgrace_add_scenarios target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SQL_NAMESPACE" "SOURCES;SQL")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "pgrace_add_scenarios: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "EXECUTABLE" AND NOT type STREQUAL "OBJECT_LIBRARY")
    message(FATAL_ERROR "pgrace_add_scenarios: ${target} is a ${type}; scenarios must go into an "
                        "executable or an OBJECT library, or the linker drops their registration")
  endif()
  target_sources(${target} PRIVATE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE pgrace::pgrace)
  if(arg_SQL)
    if(NOT arg_SQL_NAMESPACE)
      set(arg_SQL_NAMESPACE pgrace_sql)
    endif()
    _pgrace_embed_sql(${target} ${arg_SQL_NAMESPACE} ${arg_SQL})
  endif()
endfunction()

# Generates embedded_sql.hpp/.cpp for <target> from the SQL files.
function(_pgrace_embed_sql target namespace)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/pgrace_embedded_sql/${target})
  set(inputs "")
  foreach(file IN LISTS ARGN)
    get_filename_component(path "${file}" ABSOLUTE)
    list(APPEND inputs "${path}")
  endforeach()
  string(REPLACE ";" "|" input_list "${inputs}")
  set(script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_sql.cmake)
  add_custom_command(
    OUTPUT ${dir}/embedded_sql.cpp ${dir}/embedded_sql.hpp
    COMMAND ${CMAKE_COMMAND} -DDIR=${dir} -DNAMESPACE=${namespace} -DINPUTS=${input_list} -P ${script}
    DEPENDS ${inputs} ${script}
    COMMENT "Embedding SQL files into ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE ${dir}/embedded_sql.cpp ${dir}/embedded_sql.hpp)
  target_include_directories(${target} PRIVATE ${dir})
endfunction()
