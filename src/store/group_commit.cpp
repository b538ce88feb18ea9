#include "store/group_commit.h"

#include <spdlog/spdlog.h>

#include "core/threads.h"

namespace ar::store {

namespace {
constexpr size_t kMaxBatch = 512;
constexpr size_t kMaxIdleReaders = 8;
constexpr int kCheckpointFrames = 1000;  // SQLite's own default for automatic checkpoints
constexpr int kHardFrames = 50000;       // ~200 MB of WAL: the writer checkpoints itself
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
    std::unique_ptr<Db> db;
    for (;;) {
        {
            std::unique_lock lk(ckpt_mu_);
            ckpt_cv_.wait(lk, [&] { return ckpt_wanted_ || ckpt_stopping_; });
            if (ckpt_stopping_) return;
            ckpt_wanted_ = false;
        }
        try {
            if (!db) db = std::make_unique<Db>(path_);
            // PASSIVE: copies what no reader still needs, never waits for the writer or readers.
            int rc = sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            if (rc != SQLITE_OK && rc != SQLITE_BUSY)
                spdlog::warn("store {}: checkpoint failed: {}", path_, sqlite3_errmsg(db->handle()));
        } catch (const StoreError& e) {
            spdlog::warn("store {}: checkpoint connection: {}", path_, e.what());
        }
    }
}

namespace {
Error shutting_down() { return Error{kErrUnavailable, "the store is shutting down", ""}; }
}  // namespace

bool GroupWriter::enqueue(std::shared_ptr<Job> job, std::unique_lock<std::mutex>& /* held */) {
    if (stopping_) return false;
    queue_.push_back(std::move(job));
    work_cv_.notify_one();
    return true;
}

Status GroupWriter::write(std::function<void(Db&)> fn) {
    auto job = std::make_shared<Job>();
    job->fn = std::move(fn);
    {
        std::unique_lock lk(mu_);
        if (!enqueue(job, lk)) return shutting_down();
        job->done_cv.wait(lk, [&] { return job->done; });
    }
    if (job->error) return *job->error;
    return Ok{};
}

void GroupWriter::write_async(std::function<void(Db&)> fn, std::function<void(Status)> done) {
    auto job = std::make_shared<Job>();
    job->fn = std::move(fn);
    job->on_done = std::move(done);
    {
        std::unique_lock lk(mu_);
        if (enqueue(job, lk)) return;
    }
    job->on_done(shutting_down());
}

void GroupWriter::run() {
    name_this_thread("ar-store");
    std::vector<std::shared_ptr<Job>> batch;
    for (;;) {
        {
            std::unique_lock lk(mu_);
            work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty() && stopping_) return;
            while (!queue_.empty() && batch.size() < kMaxBatch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        std::optional<Error> batch_error;
        try {
            db_.prepare("BEGIN IMMEDIATE").run();
            for (auto& job : batch) {
                db_.prepare("SAVEPOINT job").run();
                try {
                    job->fn(db_);
                    db_.prepare("RELEASE job").run();
                } catch (const Error& e) {
                    job->error = e;
                } catch (const StoreError& e) {
                    job->error = Error{kErrInternal, e.what(), ""};
                } catch (const std::exception& e) {
                    job->error = Error{kErrInternal, e.what(), ""};
                }
                if (job->error) {
                    db_.prepare("ROLLBACK TO job").run();
                    db_.prepare("RELEASE job").run();
                }
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
        {
            std::lock_guard lk(mu_);
            for (auto& job : batch) {
                if (batch_error && !job->error) job->error = batch_error;
                job->done = true;
                if (!job->on_done) job->done_cv.notify_one();
            }
        }
        for (auto& job : batch) {
            if (!job->on_done) continue;
            try {
                if (job->error) job->on_done(*job->error);
                else job->on_done(Ok{});
            } catch (const std::exception& e) {
                spdlog::error("store {}: a completion failed: {}", path_, e.what());
            }
        }
        if (hard_limit_) {
            // The checkpointer has fallen far behind: catch up here, between two commits.
            hard_limit_ = false;
            sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        }
        batch.clear();
    }
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
