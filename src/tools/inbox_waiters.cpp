#include "tools/inbox_waiters.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <future>
#include <thread>
#include <unordered_map>

#include <asio.hpp>
#include <spdlog/spdlog.h>

#include "core/threads.h"

namespace ar::tools {

namespace {
// After another process's write to an agent's database, when its waiters look again: the
// commit is visible only once its fsync is done.
constexpr std::array<std::chrono::milliseconds, 3> kAfterWrite = {
    std::chrono::milliseconds(20), std::chrono::milliseconds(250), std::chrono::milliseconds(1500)};
// Without inotify: how often waiters look for mail stored by other processes.
constexpr auto kPollWithoutInotify = std::chrono::seconds(1);
} // namespace

struct InboxWaiters::Impl : std::enable_shared_from_this<InboxWaiters::Impl> {
    struct Waiter {
        Waiter(asio::io_context& io, std::string a, Attempt at) : agent(std::move(a)), attempt(std::move(at)), timer(io) {}
        std::string agent;
        uint64_t id = 0;
        Attempt attempt;
        asio::steady_timer timer;
        bool busy = false;    // an attempt is running
        bool again = false;   // mail may have come while it ran
        bool expired = false; // the deadline passed while it ran
        bool done = false;
    };
    using WaiterPtr = std::shared_ptr<Waiter>;

    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
    asio::thread_pool attempts{2};
    std::thread thread;
    std::unordered_multimap<std::string, WaiterPtr> by_agent; // io thread only
    std::unordered_map<uint64_t, WaiterPtr> by_id;              // io thread only
    std::atomic<uint64_t> next_id{0};
    std::unordered_map<std::string, std::shared_ptr<asio::steady_timer>> settle; // io thread only
    std::atomic<std::size_t> count{0};
    int inotify_fd = -1;
    std::unique_ptr<asio::posix::stream_descriptor> watch;
    std::array<char, 8192> events{};
    std::unique_ptr<asio::steady_timer> poll;

    void run_attempt(const WaiterPtr& w, bool timed_out) {
        if (w->done) return;
        if (w->busy) {
            (timed_out ? w->expired : w->again) = true;
            return;
        }
        w->busy = true;
        auto self = shared_from_this();
        asio::post(attempts, [self, w, timed_out] {
            name_this_thread("ar-wait");
            bool answered = false;
            try {
                answered = w->attempt(timed_out) || timed_out;
            } catch (const std::exception& e) {
                spdlog::error("wait_for_message: {}", e.what());
                answered = timed_out;
            }
            asio::post(self->io, [self, w, answered] {
                w->busy = false;
                if (answered) return self->finish(w);
                if (w->expired) return self->run_attempt(w, true);
                if (w->again) {
                    w->again = false;
                    self->run_attempt(w, false);
                }
            });
        });
    }

    void finish(WaiterPtr w) { // by value: it erases the maps' copies
        if (w->done) return;
        w->done = true;
        w->timer.cancel();
        by_id.erase(w->id);
        auto range = by_agent.equal_range(w->agent);
        for (auto it = range.first; it != range.second; ++it)
            if (it->second == w) {
                by_agent.erase(it);
                break;
            }
        count.fetch_sub(1);
    }

    void wake(const std::string& agent) {
        auto range = by_agent.equal_range(agent);
        std::vector<WaiterPtr> ws;
        for (auto it = range.first; it != range.second; ++it)
            ws.push_back(it->second);
        for (auto& w : ws)
            run_attempt(w, false);
    }

    // Another process wrote the agent's database: look now and again as the commit settles.
    void wake_after_write(const std::string& agent) {
        if (by_agent.find(agent) == by_agent.end()) return;
        auto& timer = settle[agent];
        if (timer) return; // already settling: its later looks cover this write
        timer = std::make_shared<asio::steady_timer>(io);
        step_settle(agent, timer, 0);
    }

    void step_settle(const std::string& agent, const std::shared_ptr<asio::steady_timer>& timer, std::size_t step) {
        if (step >= kAfterWrite.size()) {
            settle.erase(agent);
            return;
        }
        auto wait_for = kAfterWrite[step] - (step ? kAfterWrite[step - 1] : std::chrono::milliseconds(0));
        timer->expires_after(wait_for);
        auto self = shared_from_this();
        timer->async_wait([self, agent, timer, step](const asio::error_code& ec) {
            if (ec) return;
            self->wake(agent);
            self->step_settle(agent, timer, step + 1);
        });
    }

    void read_events() {
        auto self = shared_from_this();
        watch->async_read_some(asio::buffer(events), [self](const asio::error_code& ec, std::size_t n) {
            if (ec) return;
            std::size_t off = 0;
            while (off + sizeof(inotify_event) <= n) {
                auto* ev = reinterpret_cast<const inotify_event*>(self->events.data() + off);
                if (ev->len) {
                    std::string name(ev->name);
                    auto dot = name.find(".db");
                    if (dot != std::string::npos && dot > 0) self->wake_after_write(name.substr(0, dot));
                }
                off += sizeof(inotify_event) + ev->len;
            }
            self->read_events();
        });
    }

    void poll_all() {
        auto self = shared_from_this();
        poll->expires_after(kPollWithoutInotify);
        poll->async_wait([self](const asio::error_code& ec) {
            if (ec) return;
            std::vector<std::string> agents;
            for (const auto& [agent, w] : self->by_agent)
                if (agents.empty() || agents.back() != agent) agents.push_back(agent);
            for (const auto& a : agents)
                self->wake(a);
            self->poll_all();
        });
    }
};

InboxWaiters::InboxWaiters(const std::string& agents_dir) : impl_(std::make_shared<Impl>()) {
    auto& impl = *impl_;
    if (!agents_dir.empty()) {
        impl.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (impl.inotify_fd >= 0 && inotify_add_watch(impl.inotify_fd, agents_dir.c_str(), IN_MODIFY | IN_CREATE) < 0) {
            ::close(impl.inotify_fd);
            impl.inotify_fd = -1;
        }
        if (impl.inotify_fd >= 0) {
            impl.watch = std::make_unique<asio::posix::stream_descriptor>(impl.io, impl.inotify_fd);
            impl.read_events();
        } else {
            spdlog::warn("no inotify for {}: wait_for_message looks for other processes' mail every second", agents_dir);
            impl.poll = std::make_unique<asio::steady_timer>(impl.io);
            impl.poll_all();
        }
    }
    impl.thread = std::thread([self = impl_] {
        name_this_thread("ar-waiters");
        self->io.run();
    });
}

InboxWaiters::~InboxWaiters() {
    auto impl = impl_;
    // Waiters still registered are dropped: whoever serves them (the HTTP door, a stdio
    // session) has ended before this.
    std::promise<void> stopped;
    asio::post(impl->io, [impl, &stopped] {
        for (auto& [agent, w] : impl->by_agent) {
            w->done = true;
            w->timer.cancel();
        }
        impl->by_agent.clear();
        impl->by_id.clear();
        if (impl->watch) impl->watch->close();
        if (impl->poll) impl->poll->cancel();
        for (auto& [agent, t] : impl->settle)
            t->cancel();
        stopped.set_value();
    });
    stopped.get_future().wait();
    impl->attempts.join();
    // Every timer and the watch are cancelled: the loop runs their handlers out and returns.
    impl->work.reset();
    if (impl->thread.joinable()) impl->thread.join();
}

uint64_t InboxWaiters::wait(const std::string& agent, std::chrono::steady_clock::time_point deadline, Attempt attempt) {
    auto impl = impl_;
    impl->count.fetch_add(1);
    uint64_t id = ++impl->next_id;
    asio::post(impl->io, [impl, agent, id, deadline, attempt = std::move(attempt)]() mutable {
        auto w = std::make_shared<Impl::Waiter>(impl->io, agent, std::move(attempt));
        w->id = id;
        impl->by_agent.emplace(agent, w);
        impl->by_id.emplace(id, w);
        w->timer.expires_at(deadline);
        w->timer.async_wait([impl, w](const asio::error_code& ec) {
            if (!ec) impl->run_attempt(w, true);
        });
        // Registered: whatever arrives from now on wakes it. One look now covers what came
        // between the caller's own look and this moment.
        impl->run_attempt(w, false);
    });
    return id;
}

void InboxWaiters::cancel(uint64_t id) {
    std::weak_ptr<Impl> weak = impl_;
    asio::post(impl_->io, [weak, id] {
        auto impl = weak.lock();
        if (!impl) return;
        if (auto it = impl->by_id.find(id); it != impl->by_id.end()) {
            auto w = it->second; // finish() erases the map's own copy
            impl->finish(w);
        }
    });
}

void InboxWaiters::notify(const std::string& agent) {
    auto impl = impl_;
    asio::post(impl->io, [impl, agent] { impl->wake(agent); });
}

std::shared_ptr<void> InboxWaiters::watch(const std::string& agent, std::function<bool()> look) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(24 * 365 * 10);
    uint64_t id = wait(agent, deadline, [look = std::move(look)](bool timed_out) { return look() || timed_out; });
    struct Handle {
        Handle(InboxWaiters* w, uint64_t i) : waiters(w), id(i) {}
        Handle(const Handle&) = delete;
        Handle& operator=(const Handle&) = delete;
        ~Handle() { waiters->cancel(id); }
        InboxWaiters* waiters;
        uint64_t id;
    };
    return std::make_shared<Handle>(this, id);
}

std::size_t InboxWaiters::waiting() const {
    return impl_->count.load();
}

} // namespace ar::tools
