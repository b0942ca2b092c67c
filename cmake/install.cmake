# Install rules: the libraries, the bundled `pgrace` program, the public
# headers, and a CMake package so that other projects can
# find_package(pgrace CONFIG REQUIRED) and link pgrace::pgrace, pgrace::main
# and pgrace::gtest.
include(CMakePackageConfigHelpers)
set(PGRACE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pgrace)

install(TARGETS pgrace_lib pgrace_main EXPORT pgraceTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT pgraceTargets NAMESPACE pgrace:: DESTINATION ${PGRACE_CMAKE_DIR})
if(TARGET pgrace_gtest)
  install(TARGETS pgrace_gtest EXPORT pgraceGTestTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT pgraceGTestTargets NAMESPACE pgrace:: DESTINATION ${PGRACE_CMAKE_DIR})
endif()
install(TARGETS pgrace RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/harness/include/pgrace DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pgraceConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/pgraceConfig.cmake INSTALL_DESTINATION ${PGRACE_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pgraceConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pgraceConfig.cmake ${PROJECT_BINARY_DIR}/pgraceConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/pgraceScenarios.cmake ${PROJECT_SOURCE_DIR}/cmake/embed_sql.cmake
        DESTINATION ${PGRACE_CMAKE_DIR})
