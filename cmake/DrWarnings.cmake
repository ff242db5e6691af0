# Compiler warnings, warnings-as-errors and sanitizer flags applied to every target of the project.
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wformat=2 -Wno-unused-parameter)
if(DR_WERROR)
  add_compile_options(-Werror)
endif()
if(DR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DR_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
# DR_FUZZ: coverage for libFuzzer only in the code the fuzz targets test (the SDK objects and the agent core),
# never in plugins, whose only export must stay dr_plugin_entry (see dr_fuzz_instrument in tests/fuzz).
function(dr_fuzz_instrument target)
  if(DR_FUZZ)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
add_compile_definitions(_GNU_SOURCE)

# dr_plugin(<type> SOURCES ... [LIBS ...]): a resource plugin module that
# exports nothing but dr_plugin_entry.
function(dr_plugin type)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  add_library(plugin_${type} MODULE ${P_SOURCES})
  set_target_properties(plugin_${type} PROPERTIES
    OUTPUT_NAME ${type} PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY "${DR_PLUGIN_OUTPUT_DIR}"
    C_VISIBILITY_PRESET hidden
    # no run path: libdr-sdk is already loaded by the host that dlopens the plugin, and a run path
    # (CMake pads build run paths with ':', an empty entry that means the current directory) only widens
    # where the dynamic loader looks
    SKIP_BUILD_RPATH ON
    INSTALL_RPATH "")
  target_link_libraries(plugin_${type} PRIVATE dr_sdk ${P_LIBS})
  target_link_options(plugin_${type} PRIVATE
    "-Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/plugin.map")
  if(NOT DR_SANITIZE AND NOT DR_TSAN)
    target_link_options(plugin_${type} PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS plugin_${type} LIBRARY DESTINATION "${DR_PLUGIN_SUBDIR}")
endfunction()
