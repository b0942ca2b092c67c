#pragma once
// The HTML timeline page's template (timeline.html beside this file), which
// CMake compiles in as timeline_page.cpp (from timeline_page.cpp.in). It
// holds the marker "{{PGRACE_DATA}}" once, where the page's JSON data goes.
// Internal to pgrace.

namespace pgrace::detail {

// The text of timeline.html as it was at build time.
const char* timeline_page();

}  // namespace pgrace::detail
