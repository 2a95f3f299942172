# Breakpad's minidump_stackwalk, which POST /symbolicate_dump runs, and (for the tests) dump_syms
# and the Breakpad client library. Debian ships none of them: packaging/breakpad/
# install-breakpad-tools puts them into one prefix, DEVSERVER_BREAKPAD_DIR.

set(DEVSERVER_BREAKPAD_DIR /opt/devserver-breakpad CACHE PATH
    "Prefix of packaging/breakpad/install-breakpad-tools (bin/minidump_stackwalk, client/)")

set(_breakpad_hint
    "Install them by running, in ${PROJECT_SOURCE_DIR}:\n"
    "  packaging/breakpad/install-breakpad-tools ${DEVSERVER_BREAKPAD_DIR}\n"
    "(.ci/bootstrap does that for the default directory), or configure with "
    "-DDEVSERVER_BREAKPAD_DIR=<a prefix that script installed into>.")
set(_breakpad_stackwalk ${DEVSERVER_BREAKPAD_DIR}/bin/minidump_stackwalk)
if(NOT EXISTS ${_breakpad_stackwalk})
  message(FATAL_ERROR "Breakpad tools not found: no bin/minidump_stackwalk in "
                      "DEVSERVER_BREAKPAD_DIR=${DEVSERVER_BREAKPAD_DIR}.\n" ${_breakpad_hint})
endif()

# Where the service finds it, in the build tree as in the package (the build tree mirrors the
# installed layout): <prefix>/lib/devserver/minidump_stackwalk.
set(DEVSERVER_MINIDUMP_STACKWALK ${PROJECT_BINARY_DIR}/lib/devserver/minidump_stackwalk)
# Copied at build time, not configure time, so that reinstalled tools reach existing build trees.
add_custom_command(
  OUTPUT ${DEVSERVER_MINIDUMP_STACKWALK}
  COMMAND ${CMAKE_COMMAND} -E copy ${_breakpad_stackwalk} ${DEVSERVER_MINIDUMP_STACKWALK}
  DEPENDS ${_breakpad_stackwalk}
  COMMENT "Copying minidump_stackwalk from ${DEVSERVER_BREAKPAD_DIR}"
  VERBATIM)
add_custom_target(devserver_minidump_stackwalk ALL DEPENDS ${DEVSERVER_MINIDUMP_STACKWALK})
install(PROGRAMS ${DEVSERVER_MINIDUMP_STACKWALK} DESTINATION lib/devserver)

# Only the tests build a crashing program and symbolize it.
if(DEVSERVER_BUILD_TESTS)
  set(DEVSERVER_DUMP_SYMS ${DEVSERVER_BREAKPAD_DIR}/bin/dump_syms)
  set(_breakpad_client_lib ${DEVSERVER_BREAKPAD_DIR}/client/lib/libbreakpad_client.a)
  foreach(f ${DEVSERVER_DUMP_SYMS} ${_breakpad_client_lib})
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "Breakpad tools incomplete: ${f} is missing.\n" ${_breakpad_hint})
    endif()
  endforeach()
  add_library(devserver_breakpad_client STATIC IMPORTED)
  set_target_properties(devserver_breakpad_client PROPERTIES
    IMPORTED_LOCATION ${_breakpad_client_lib}
    INTERFACE_INCLUDE_DIRECTORIES ${DEVSERVER_BREAKPAD_DIR}/client/include
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
