#pragma once
// Ctrl-C / SIGTERM handling: ephemeral servers are stopped and removed before
// the process exits. Internal to pgrace.

#include <functional>

namespace pgrace::detail {

// Registers `stop` to run if the process is told to terminate. Returns a
// handle for unregister_cleanup(). Thread-safe.
int register_cleanup(std::function<void()> stop);
void unregister_cleanup(int handle);

// For a thread that finds its work stopped by a registered cleanup: the
// termination handler is ending the process; blocks until it has.
[[noreturn]] void await_termination();

}  // namespace pgrace::detail
