// threads.h: names and CPU priority of agentrelay's threads.
//
// The delivery engine (SMTP client, DKIM signing, outcome writes) runs its threads at idle
// priority (SCHED_IDLE) unless configured otherwise: when both want the CPU, an agent's
// send_email or an SMTP client's DATA is answered first and the engine works through the
// queue with what is left over; on an idle machine it makes no difference. Durability is not
// affected: what is queued is on disk. With autogroups or a service cgroup (the usual for a
// daemon) the preference is among agentrelay's own threads, not against other programs.
#pragma once

namespace ar {

// If SCHED_IDLE is refused: how much lower (in nice steps) background threads run.
inline constexpr int kBackgroundNice = 10;

// Moves the calling thread to SCHED_IDLE, else lowers it by kBackgroundNice (Linux: both are
// per thread), and marks it as background work (below). Runs once per thread; later calls do
// nothing. Failure only costs the preference, so it is ignored.
//
// A thread at idle priority can be kept off the CPU for long stretches while the machine is
// busy, so it must not hold anything that a normal thread waits for: it computes (DKIM
// signing), and leaves store access and other shared locks to threads of normal priority.
// SQLite's per-file locks and the store writer's queue are shared with the threads that
// answer requests; a preempted idle thread holding one stalls them all (priority inversion).
void lower_this_thread_priority();

// Marks the calling thread's store writes as background work (GroupWriter lets them wait
// behind the requests' writes), without changing its CPU priority.
void mark_this_thread_background();

// Whether the calling thread's store writes are background work.
bool this_thread_is_background();

// Lowers the calling thread by `steps` nice levels (Linux: per thread), for work that must keep
// going under load but can wait behind requests, such as WAL checkpoints. Failure is ignored.
void nice_this_thread(int steps);

// Names the calling thread (at most 15 characters: "ar-sign", "ar-store"...) for top -H,
// perf and gdb. Runs once per thread.
void name_this_thread(const char* name);

}  // namespace ar
