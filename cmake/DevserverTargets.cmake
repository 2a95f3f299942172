# Shared compile settings and helpers for every devserver target.

add_library(devserver_warnings INTERFACE)
target_compile_options(devserver_warnings INTERFACE -Wall -Wextra -Werror)
# GCC 12 at -O3 (Release) reports std::string's operator+ as an overlapping memcpy (GCC bug
# 105329, a false positive); keep it a warning there rather than an error. Release only, so
# clang-tidy, which reads the (RelWithDebInfo) lint build's flags, never sees a GCC-only option.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(devserver_warnings INTERFACE $<$<CONFIG:Release>:-Wno-error=restrict>)
endif()

if(DEVSERVER_SANITIZE)
  separate_arguments(_devserver_sanitize_codegen UNIX_COMMAND "${DEVSERVER_SANITIZE_CODEGEN}")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer ${_devserver_sanitize_codegen})
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer needs clang; every library gets the coverage instrumentation the fuzzers steer by
# (fuzzer-no-link: only the fuzz targets themselves link libFuzzer's main).
if(DEVSERVER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DEVSERVER_FUZZ=ON needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
                        "configure a fresh build directory with CC=clang CXX=clang++ (see .ci/fuzz)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# devserver_library(NAME SOURCES ... [LIBS ...]): a static library of the service.
function(devserver_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${ARG_LIBS} PRIVATE devserver_warnings)
endfunction()

# devserver_test(NAME SOURCES ... [LIBS ...]): a GoogleTest binary registered with ctest.
# Tests run with the build tree as working directory and label "unit" unless LABELS says more.
function(devserver_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT DEVSERVER_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main devserver_warnings)
  target_compile_definitions(${name} PRIVATE DEVSERVER_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             DEVSERVER_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # A long test starts first under ctest -j (COST orders them), rather than last and alone.
  set(cost 0)
  if("stress" IN_LIST ARG_LABELS)
    set(cost 1000)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}" COST ${cost})
endfunction()
