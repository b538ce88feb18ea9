// inbox_waiters.h: agents waiting for mail (wait_for_message), woken by the arrival itself.
//
// A waiter is an attempt (a look at the agent's inbox) and a deadline. It is tried once as it
// registers, again each time mail may have reached that agent, and a last time at its deadline;
// it holds no thread in between, so thousands of waiters cost a few hundred bytes each. Mail
// stored by this process wakes the agent's waiters at once (notify, from Relay::on_inbox); mail
// stored by another process on the same data dir (the MX in `serve` for an agent on `mcp` over
// stdio) is seen through inotify on the agents' databases: a write to NAME.db's WAL tries NAME's
// waiters, and again shortly after, since a commit becomes visible only after its fsync. Only
// the agent concerned is woken, never every waiter. Attempts run on two threads of their own
// (ar-wait), one at a time per waiter; the timers on one more (ar-waiters).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ar::tools {

class InboxWaiters {
  public:
    // Looks at the inbox; `timed_out` on the last try. True once it has answered its caller
    // (it must, when timed_out): the waiter then ends.
    using Attempt = std::function<bool(bool timed_out)>;

    // agents_dir: the data dir's agents/ folder, watched for other processes' writes ("" for none).
    explicit InboxWaiters(const std::string& agents_dir);
    ~InboxWaiters();
    InboxWaiters(const InboxWaiters&) = delete;
    InboxWaiters& operator=(const InboxWaiters&) = delete;

    // Returns the waiter's id, for cancel().
    uint64_t wait(const std::string& agent, std::chrono::steady_clock::time_point deadline, Attempt attempt);
    // Ends a waiter without a last attempt (a watch nobody needs any more).
    void cancel(uint64_t id);
    // A waiter with no deadline: `look` runs as the waiter's attempt (true: it is done) until
    // it says so or the returned handle is dropped (which cancels it).
    std::shared_ptr<void> watch(const std::string& agent, std::function<bool()> look);
    // Mail may have reached `agent`'s inbox.
    void notify(const std::string& agent);
    // Waiters registered and not yet answered.
    std::size_t waiting() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace ar::tools
