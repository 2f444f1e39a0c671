# doppel_add_plugin(NAME <kind>-<name> SOURCES ... [LIBRARIES ...])
# Builds a plugin as a MODULE library named doppel-<kind>-<name>.so in <build>/plugins/, with
# hidden symbols (only the entry point is exported) and installs it to lib/doppel/plugins.
include(GNUInstallDirs)

function(doppel_add_plugin)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;LIBRARIES" ${ARGN})
  set(target doppel-${ARG_NAME})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
  target_link_libraries(${target} PRIVATE Doppel::sdk ${ARG_LIBRARIES})
  if(TARGET doppel_warnings)
    target_link_libraries(${target} PRIVATE doppel_warnings)
  endif()
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/doppel/plugins)
endfunction()
