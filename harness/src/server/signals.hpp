#pragma once
// Termination signals. With the handler installed, SIGINT, SIGTERM and SIGHUP
// stop every ephemeral server and remove its directory before the process
// exits with 128+signal; from the signal on, nothing more is printed (the
// other threads' failures are the cleanup's doing) and no other thread can
// end the process first. (SIGKILL cannot be caught: each ephemeral server also
// has a watchdog process that cleans up when pgrace disappears, and a later
// pgrace cleans up after both.)

#include <functional>

namespace pgrace {

// Installs the handler. Call once, first thing in main(), before any other
// thread starts: the signals are blocked in all threads and taken by a
// dedicated one.
void install_termination_handler();

// Blocks until a termination signal arrives and returns its number; while a
// caller waits here, the signal does not end the process, so the caller can
// shut down in order. `once_waiting` runs as soon as the wait is in place
// (print "press Ctrl-C" there: a signal after it is never lost).
// Requires install_termination_handler().
int wait_for_termination_signal(const std::function<void()>& once_waiting = {});

}  // namespace pgrace
