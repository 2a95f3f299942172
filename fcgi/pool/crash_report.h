// A process of the pool that dies of a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT)
// first writes one line to stderr (the journal): the signal, the faulting address (or who
// sent it), and its stack as module+offset frames, which `addr2line -e <module> <offset>`
// turns into file and line. Then it dies of the same signal, so the master still logs
// "killed by SIG...".
#pragma once

namespace devserver {

// Installs the handler for this process and the workers it forks. Does nothing in a sanitizer
// build, whose own report says more.
void InstallCrashReport();

}  // namespace devserver
