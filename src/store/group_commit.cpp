#include "store/group_commit.h"

#include <spdlog/spdlog.h>

#include "core/threads.h"

namespace ar::store {

namespace {
constexpr size_t kMaxBatch = 512;
constexpr size_t kMaxIdleReaders = 8;
}  // namespace

GroupWriter::GroupWriter(std::string path, const std::function<void(Db&)>& prepare)
    : path_(std::move(path)), db_(path_) {
    prepare(db_);
    thread_ = std::thread([this] { run(); });
}

GroupWriter::~GroupWriter() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    work_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Status GroupWriter::write(std::function<void(Db&)> fn) {
    auto job = std::make_shared<Job>();
    job->fn = std::move(fn);
    {
        std::unique_lock lk(mu_);
        if (stopping_) return Error{kErrUnavailable, "the store is shutting down", ""};
        queue_.push_back(job);
        work_cv_.notify_one();
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
        std::lock_guard lk(mu_);
        if (!stopping_) {
            queue_.push_back(std::move(job));
            work_cv_.notify_one();
            return;
        }
    }
    job->on_done(Error{kErrUnavailable, "the store is shutting down", ""});
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
