# Warning and sanitizer flags shared by every Doppel target.
add_library(doppel_warnings INTERFACE)
target_compile_options(doppel_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local
                                                 -Wnon-virtual-dtor -Wno-missing-field-initializers)

if(DOPPEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # RapidJSON's internal stack does arithmetic on a null pointer (see the ignore list).
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options(-fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt)
  else()
    add_compile_options(-fno-sanitize=pointer-overflow)
  endif()
endif()

find_program(DOPPEL_CCACHE ccache)
if(DOPPEL_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${DOPPEL_CCACHE}")
endif()
