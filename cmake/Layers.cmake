# baton_layer(TARGET SEES LAYER... SOURCES FILE...): a static library of one layer. It compiles
# with include/ (the public interfaces) and an include root of its own holding links to the
# src/ folders of the layers it may use, and nothing else: `#include "store/..."` in a core file
# does not find the header, so the build fails.
function(baton_layer_include target)
  set(root ${PROJECT_BINARY_DIR}/layers/${target})
  file(MAKE_DIRECTORY ${root})
  foreach(layer ${ARGN})
    if(NOT EXISTS ${root}/${layer})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${layer} ${root}/${layer} SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE ${root})
endfunction()

function(baton_layer target)
  cmake_parse_arguments(L "" "" "SEES;SOURCES" ${ARGN})
  add_library(${target} ${L_SOURCES})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  baton_layer_include(${target} ${L_SEES})
endfunction()
