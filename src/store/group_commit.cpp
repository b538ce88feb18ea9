#include "store/group_commit.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/callback_batch.h"
#include "core/threads.h"

namespace ar::store {

namespace {
constexpr size_t kMaxBatch = 512;
// How long background jobs may add to a group while foreground jobs are in it or waiting: half
// the group's foreground time, at most kBackgroundBudget (kAloneBudget when a group formed with
// background jobs only is caught up by requests); always at least one job.
constexpr auto kBackgroundBudget = std::chrono::microseconds(1000);
constexpr auto kAloneBudget = std::chrono::microseconds(250);
constexpr size_t kMaxIdleReaders = 8;
constexpr int kCheckpointFrames = 1000;  // SQLite's own default for automatic checkpoints
// ~200 MB of WAL: the writer takes the copying over from the background pass (which runs niced
// and may be starved by other work on the machine) and copies it all itself.
constexpr int kHardFrames = 50000;
// How long the writer lets a background pass finish before it interrupts it (an interrupted
// pass's copies count for nothing: SQLite records a pass's progress only when it ends).
constexpr auto kTakeOverWait = std::chrono::milliseconds(50);
// Left for the writer to copy after a background pass (see run()); a few milliseconds' work.
constexpr int kCatchUpFrames = 500;
}  // namespace

GroupWriter::GroupWriter(std::string path, const std::function<void(Db&)>& prepare)
    : path_(std::move(path)), db_(path_) {
    prepare(db_);
    db_.exec("PRAGMA journal_size_limit=67108864");  // a restarted WAL shrinks back to 64 MB
    sqlite3_wal_hook(db_.handle(), &GroupWriter::on_wal, this);  // replaces the automatic checkpoints
    ckpt_thread_ = std::thread([this] { checkpoints(); });
    thread_ = std::thread([this] { run(); });
}

GroupWriter::~GroupWriter() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    work_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    {
        std::lock_guard lk(ckpt_mu_);
        ckpt_stopping_ = true;
    }
    ckpt_cv_.notify_all();
    if (ckpt_thread_.joinable()) ckpt_thread_.join();
}

// After each commit, on the writer thread: how many frames the WAL holds.
int GroupWriter::on_wal(void* self, sqlite3*, const char*, int frames) {
    auto* w = static_cast<GroupWriter*>(self);
    // Within one WAL generation the frame count only grows: a smaller one means SQLite started
    // the WAL over, and what a checkpoint pass reported before that no longer applies.
    if (frames < w->wal_frames_) w->wal_generation_.fetch_add(1);
    w->wal_frames_ = frames;
    if (frames >= kHardFrames) w->hard_limit_ = true;
    if (frames >= kCheckpointFrames) {
        {
            std::lock_guard lk(w->ckpt_mu_);
            w->ckpt_wanted_ = true;
        }
        w->ckpt_cv_.notify_one();
    }
    return SQLITE_OK;
}

void GroupWriter::checkpoints() {
    name_this_thread("ar-checkpoint");
    nice_this_thread(kBackgroundNice);  // behind the writer and the requests, ahead of delivery
    std::unique_ptr<Db> db;
    for (;;) {
        {
            std::unique_lock lk(ckpt_mu_);
            ckpt_cv_.wait(lk, [&] { return ckpt_wanted_ || ckpt_stopping_; });
            if (ckpt_stopping_) {
                ckpt_db_.store(nullptr);
                return;
            }
            ckpt_wanted_ = false;
        }
        try {
            if (!db) {
                db = std::make_unique<Db>(path_);
                ckpt_db_.store(db->handle());
            }
            std::lock_guard running(ckpt_run_mu_);
            if (writer_takes_over_.load()) continue;
            // PASSIVE: copies what no reader still needs, never waits for the writer or readers.
            // The generation is read before the pass: if the WAL starts over after it, the
            // writer sees a newer one and ignores this pass's count.
            uint32_t generation = wal_generation_.load();
            int copied = 0;
            int rc = sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
            if (rc == SQLITE_OK && copied > 0)
                backfilled_.store((uint64_t{generation} << 32) | static_cast<uint32_t>(copied));
            if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_INTERRUPT)  // interrupted: the writer took over
                spdlog::warn("store {}: checkpoint failed: {}", path_, sqlite3_errmsg(db->handle()));
        } catch (const StoreError& e) {
            spdlog::warn("store {}: checkpoint connection: {}", path_, e.what());
        }
    }
}

namespace {
Error shutting_down() { return Error{kErrUnavailable, "the store is shutting down", ""}; }
}  // namespace

bool GroupWriter::enqueue(std::shared_ptr<Job> job) {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return false;
        if (this_thread_is_background()) {
            background_.push_back(std::move(job));
        } else {
            queue_.push_back(std::move(job));
            foreground_waiting_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    // Woken after the lock is released: the writer runs at normal priority and the caller may
    // be a background thread at idle priority. Woken under the lock, the writer would preempt
    // it on its CPU, block on mu_ at once, and wait until that CPU had nothing better to do
    // than let the background thread release it: under load, a stall of every commit.
    work_cv_.notify_one();
    return true;
}

Status GroupWriter::write(std::function<void(Db&)> fn) {
    auto job = std::make_shared<Job>();
    job->fn = std::move(fn);
    if (!enqueue(job)) return shutting_down();
    std::unique_lock lk(job->done_mu);
    job->done_cv.wait(lk, [&] { return job->done; });
    if (job->error) return *job->error;
    return Ok{};
}

void GroupWriter::write_async(std::function<void(Db&)> fn, std::function<void(Status)> done) {
    auto job = std::make_shared<Job>();
    job->fn = std::move(fn);
    job->on_done = std::move(done);
    if (enqueue(job)) return;
    job->on_done(shutting_down());
}

// One job; in a savepoint of its own if asked, so that its failure undoes only its own writes.
// Says whether it succeeded, failed having changed nothing (a refusal before any write: the
// group can go on), or failed after changing rows (job.error says why).
GroupWriter::JobResult GroupWriter::run_job(Job& job, bool savepoint) {
    job.error.reset();
    if (savepoint) db_.prepare("SAVEPOINT job").run();
    // Rows changed by statements that completed; a statement that fails is undone by SQLite.
    int64_t changes_before = sqlite3_total_changes64(db_.handle());
    try {
        job.fn(db_);
        if (savepoint) db_.prepare("RELEASE job").run();
        return JobResult::Done;
    } catch (const Error& e) {
        job.error = e;
    } catch (const StoreError& e) {
        job.error = Error{kErrInternal, e.what(), ""};
    } catch (const std::exception& e) {
        job.error = Error{kErrInternal, e.what(), ""};
    }
    bool changed = sqlite3_total_changes64(db_.handle()) != changes_before;
    if (savepoint) {
        db_.prepare("ROLLBACK TO job").run();
        db_.prepare("RELEASE job").run();
    }
    return changed ? JobResult::FailedAfterWriting : JobResult::Refused;
}

void GroupWriter::run() {
    name_this_thread("ar-store");
    std::vector<std::shared_ptr<Job>> batch;       // what this group committed (or failed)
    std::vector<std::shared_ptr<Job>> background;  // taken for this group; what it leaves goes back
    auto take = [](std::deque<std::shared_ptr<Job>>& from, std::vector<std::shared_ptr<Job>>& to) {
        while (!from.empty() && to.size() < kMaxBatch) {
            to.push_back(std::move(from.front()));
            from.pop_front();
        }
    };
    for (;;) {
        {
            std::unique_lock lk(mu_);
            work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || !background_.empty(); });
            if (queue_.empty() && background_.empty() && stopping_) return;
            busy_ = true;
            take(queue_, batch);
            foreground_waiting_.fetch_sub(batch.size(), std::memory_order_relaxed);
            take(background_, background);
        }
        size_t ran = 0;  // background jobs that are part of this group
        std::optional<Error> batch_error;
        try {
            // First every job straight in the group's transaction. A savepoint per job would
            // copy each page the job changes into SQLite's savepoint journal (a temporary file
            // past 64 KiB): writes for nothing in the common case, where no job fails.
            db_.prepare("BEGIN IMMEDIATE").run();
            // A job that fails before changing anything leaves nothing to undo.
            auto clean_run = [&](Job& job) { return run_job(job, false) != JobResult::FailedAfterWriting; };
            bool clean = true;
            auto fg_started = std::chrono::steady_clock::now();
            for (auto& job : batch)
                if (!(clean = clean_run(*job))) break;
            // Background jobs fill the group, but while foreground jobs are in it or waiting for
            // the next one, only within the budget (at least one, so they always progress).
            // The rest wait for the next group.
            auto started = std::chrono::steady_clock::now();
            auto budget = batch.empty() ? std::chrono::steady_clock::duration(kAloneBudget)
                                        : std::min<std::chrono::steady_clock::duration>(
                                              (started - fg_started) / 2, kBackgroundBudget);
            auto may_run_more = [&] {
                if (ran == 0) return true;
                if (batch.empty() && foreground_waiting_.load(std::memory_order_relaxed) == 0) return true;
                return std::chrono::steady_clock::now() - started < budget;
            };
            while (clean && ran < background.size() && may_run_more())
                clean = clean_run(*background[ran++]);
            if (!clean) {
                // A job failed after writing: undo the group and run it again, each job in its
                // own savepoint, so that only the failed job's writes are lost. (Jobs only write
                // and return values, so running one twice is harmless; the committed run counts.)
                db_.prepare("ROLLBACK").run();
                db_.prepare("BEGIN IMMEDIATE").run();
                for (auto& job : batch) run_job(*job, true);
                for (size_t k = 0; k < ran; ++k) run_job(*background[k], true);
            }
            db_.prepare("COMMIT").run();
        } catch (const StoreError& e) {
            spdlog::error("store {}: group commit failed: {}", path_, e.what());
            batch_error = Error{kErrInternal, std::string("store write failed: ") + e.what(), ""};
            try {
                db_.exec("ROLLBACK");
            } catch (...) {
            }
        }
        batch.insert(batch.end(), std::make_move_iterator(background.begin()),
                     std::make_move_iterator(background.begin() + static_cast<std::ptrdiff_t>(ran)));
        if (ran < background.size()) {
            std::lock_guard lk(mu_);
            for (size_t k = background.size(); k > ran; --k) background_.push_front(std::move(background[k - 1]));
        }
        background.clear();
        // Blocked callers first, each woken on its own (no lock for them to fight over), then
        // the asynchronous completions.
        for (auto& job : batch) {
            if (batch_error && !job->error) job->error = batch_error;
            if (job->on_done) continue;
            {
                std::lock_guard lk(job->done_mu);
                job->done = true;
            }
            job->done_cv.notify_one();
        }
        {
            CallbackBatch completions;  // one wake-up per event loop for the whole group
            for (auto& job : batch) {
                if (!job->on_done) continue;
                try {
                    if (job->error) job->on_done(*job->error);
                    else job->on_done(Ok{});
                } catch (const std::exception& e) {
                    spdlog::error("store {}: a completion failed: {}", path_, e.what());
                }
            }
        }
        // A background pass never quite finishes under steady writes (the writer appends while
        // it copies), and SQLite starts the WAL over from its beginning only once every frame
        // is copied. Without that the WAL grows through the whole burst, and every commit's
        // fsync must also commit the file's growth to the filesystem journal: slow and uneven.
        // So when a pass has left little, the writer copies the rest itself, between groups
        // (its callers are already answered); the next group then rewrites the WAL in place.
        // The same when the checkpointer has fallen far behind (hard_limit_): then the writer
        // interrupts a pass in progress (SQLite lets one checkpoint run at a time) and copies
        // everything itself, so that the WAL stays bounded however starved the pass is.
        uint64_t pass = backfilled_.load();
        int done = static_cast<int>(pass & 0xffffffffu);
        bool little_left = done > 0 && (pass >> 32) == wal_generation_.load() &&
                           wal_frames_ >= kCheckpointFrames && wal_frames_ - done <= kCatchUpFrames;
        if (little_left || hard_limit_) {
            backfilled_.store(0);
            std::unique_lock<std::timed_mutex> taken;  // the background pass, when taken over
            if (std::exchange(hard_limit_, false)) taken = take_over_checkpoints();
            sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            writer_takes_over_.store(false);
        }
        batch.clear();
        {
            std::lock_guard lk(mu_);
            busy_ = false;
        }
        idle_cv_.notify_all();
    }
}

// At the hard limit: lets a background pass in progress finish for kTakeOverWait, then
// interrupts it until it lets go; the checkpointer starts no new pass until writer_takes_over_
// is cleared.
std::unique_lock<std::timed_mutex> GroupWriter::take_over_checkpoints() {
    spdlog::debug("store {}: the WAL has {} frames: the writer copies them itself", path_, wal_frames_);
    writer_takes_over_.store(true);
    std::unique_lock<std::timed_mutex> running(ckpt_run_mu_, std::defer_lock);
    if (!running.try_lock_for(kTakeOverWait))
        while (!running.try_lock_for(std::chrono::milliseconds(1)))
            if (sqlite3* pass_db = ckpt_db_.load()) sqlite3_interrupt(pass_db);
    return running;
}

void GroupWriter::drain() {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return !busy_ && queue_.empty() && background_.empty(); });
}

std::unique_ptr<Db> GroupWriter::acquire_reader() {
    {
        std::lock_guard lk(readers_mu_);
        if (!readers_.empty()) {
            auto db = std::move(readers_.back());
            readers_.pop_back();
            return db;
        }
    }
    return std::make_unique<Db>(path_, true);
}

void GroupWriter::release_reader(std::unique_ptr<Db> db) {
    std::lock_guard lk(readers_mu_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
}

}  // namespace ar::store
