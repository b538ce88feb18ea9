// group_commit.h: durable writes that share one commit.
//
// A GroupWriter owns the single write connection of one database and a thread.
// Callers hand it a function; the thread runs every function that is waiting
// inside one transaction, commits once (synchronous=FULL: fsync), and only then
// wakes the callers. Many concurrent sends thus share one fsync without giving up
// the promise that "queued" means "on disk".
//
// One failure does not undo the others: if a function fails after changing rows,
// the group is rolled back and run again with each function in its own savepoint
// (one that fails before changing anything is just dropped). So a function may
// run twice; it must only write to the database and return (or capture) its
// result, which the committed run sets.
//
// Reads go through a small pool of separate connections (WAL lets them run
// while the writer writes).
//
// Checkpoints (copying the WAL back into the database file) run on a thread of their own
// with its own connection, so no commit waits for one; only a WAL that outgrows
// kHardFrames (~200 MB), because the checkpointer cannot keep up (it runs niced and other work
// may starve it), is checkpointed by the writer itself, which interrupts the background pass.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "store/sqlite.h"

namespace ar::store {

class GroupWriter {
  public:
    // `prepare` runs once on the write connection before anything else (schema migration).
    GroupWriter(std::string path, const std::function<void(Db&)>& prepare);
    ~GroupWriter();
    GroupWriter(const GroupWriter&) = delete;
    GroupWriter& operator=(const GroupWriter&) = delete;

    // Runs fn in the next group transaction and returns once it is committed to disk.
    // A StoreError or ar::Error thrown by fn becomes the returned error; fn's writes are undone.
    Status write(std::function<void(Db&)> fn);

    // Like write(), without blocking: done(status) runs once the group is committed, on the
    // writer's thread. done must only hand the result on (post it to an event loop): it must
    // not block, and must not write to any store.
    void write_async(std::function<void(Db&)> fn, std::function<void(Status)> done);

    // Returns once every write queued so far is committed and its completion has run (so no
    // write_async callback can still post to an event loop that is about to go away).
    void drain();

    // Like write(), returning what fn returns.
    template <class T> Result<T> write_value(std::function<T(Db&)> fn) {
        std::optional<T> out;
        Status st = write([&](Db& db) { out.emplace(fn(db)); });
        if (!st) return st.error();
        return std::move(*out);
    }

    // Runs fn on a pooled read connection (no transaction beyond SQLite's implicit one).
    template <class T> Result<T> read(const std::function<T(Db&)>& fn) {
        auto db = acquire_reader();
        try {
            T v = fn(*db);
            release_reader(std::move(db));
            return v;
        } catch (const StoreError& e) {
            release_reader(std::move(db));
            return Error{kErrInternal, e.what(), ""};
        } catch (const Error& e) {
            release_reader(std::move(db));
            return e;
        }
    }

    const std::string& path() const { return path_; }

  private:
    struct Job {
        std::function<void(Db&)> fn;
        std::function<void(Status)> on_done;  // write_async's callback; empty for write()
        std::optional<Error> error;
        // Completion of a blocking write(): its own lock, so waking callers never fight over
        // mu_ (or each other) when a group commits.
        std::mutex done_mu;
        std::condition_variable done_cv;
        bool done = false;
    };
    // Queues job for the writer and wakes it, unless it is stopping.
    bool enqueue(std::shared_ptr<Job> job);
    void run();
    enum class JobResult { Done, Refused, FailedAfterWriting };
    JobResult run_job(Job& job, bool savepoint);
    void checkpoints();
    std::unique_lock<std::timed_mutex> take_over_checkpoints();
    static int on_wal(void* self, sqlite3* db, const char* name, int frames);
    std::unique_ptr<Db> acquire_reader();
    void release_reader(std::unique_ptr<Db> db);

    std::string path_;
    Db db_;
    std::mutex mu_;
    std::condition_variable work_cv_;
    std::deque<std::shared_ptr<Job>> queue_;       // foreground: requests wait on these
    std::deque<std::shared_ptr<Job>> background_;  // from background threads (the delivery engine)
    std::atomic<size_t> foreground_waiting_{0};    // queue_.size(), readable without mu_
    bool stopping_ = false;
    bool busy_ = false;                  // a group is being run or completed
    std::condition_variable idle_cv_;    // busy_ went false
    std::thread thread_;

    std::mutex ckpt_mu_;
    std::condition_variable ckpt_cv_;
    bool ckpt_wanted_ = false;
    bool ckpt_stopping_ = false;
    bool hard_limit_ = false;  // set by on_wal on the writer thread, read by run()
    int wal_frames_ = 0;       // frames in the WAL after the last commit (writer thread only)
    std::atomic<uint32_t> wal_generation_{0};  // times the writer saw the WAL start over
    // The last background pass: the generation it ran in (high 32 bits), frames it had copied.
    std::atomic<uint64_t> backfilled_{0};
    // Held while a checkpoint copies (SQLite runs one at a time): at the hard limit the writer
    // sets writer_takes_over_, interrupts the background pass's connection and takes it.
    std::timed_mutex ckpt_run_mu_;
    std::atomic<bool> writer_takes_over_{false};
    std::atomic<sqlite3*> ckpt_db_{nullptr};
    std::thread ckpt_thread_;

    std::mutex readers_mu_;
    std::vector<std::unique_ptr<Db>> readers_;
};

}  // namespace ar::store
