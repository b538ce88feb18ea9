#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace ar {

namespace {
thread_local bool background = false;
thread_local bool lowered = false;
}  // namespace

bool this_thread_is_background() { return background; }

void mark_this_thread_background() { background = true; }

void lower_this_thread_priority() {
    background = true;
    if (lowered) return;
    lowered = true;
    sched_param p{};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &p) == 0) return;
    nice_this_thread(kBackgroundNice);
}

void nice_this_thread(int steps) {
    auto tid = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    int current = getpriority(PRIO_PROCESS, tid);
    if (errno != 0) return;
    (void)setpriority(PRIO_PROCESS, tid, current + steps);
}

void name_this_thread(const char* name) {
    thread_local bool named = false;
    if (named) return;
    named = true;
    (void)pthread_setname_np(pthread_self(), name);
}

}  // namespace ar
