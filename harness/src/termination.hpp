#pragma once
// Ctrl-C / SIGTERM handling: ephemeral servers are stopped and removed before
// the process exits. Internal to pgrace.

#include <functional>

namespace pgrace::detail {

// Registers `stop` to run if the process is told to terminate. Returns a
// handle for unregister_cleanup(). Thread-safe.
int register_cleanup(std::function<void()> stop);
void unregister_cleanup(int handle);

}  // namespace pgrace::detail
