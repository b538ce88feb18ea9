#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <set>
#include <thread>
#include <vector>

#include "core/callback_batch.h"
#include "core/ids.h"

TEST_CASE("ordered ids sort by creation time and stay unguessable", "[ids]") {
    auto a = ar::ordered_id("m_", 1'700'000'000'000);
    auto b = ar::ordered_id("m_", 1'700'000'000'001);
    CHECK(a.size() == 2 + 12 + 16);
    CHECK(a.rfind("m_", 0) == 0);
    CHECK(a.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
    CHECK(a < b);
    CHECK(a.substr(2, 12) == "018bcfe56800");  // 1700000000000 ms in hex, 12 digits
    // The same millisecond: still distinct ids (the random half).
    std::set<std::string> same;
    for (int i = 0; i < 1000; ++i) same.insert(ar::ordered_id("i_", 42));
    CHECK(same.size() == 1000);
}

TEST_CASE("random ids come from per-thread blocks without repeats, in threads and forked children", "[ids]") {
    // Many ids (the per-thread block is refilled many times), from two threads at once.
    std::set<std::string> a, b;
    std::thread other([&] {
        for (int i = 0; i < 2000; ++i) b.insert(ar::random_hex(8));
    });
    for (int i = 0; i < 2000; ++i) a.insert(ar::random_hex(8));
    other.join();
    CHECK(a.size() == 2000);
    CHECK(b.size() == 2000);
    for (const auto& x : a) CHECK(b.count(x) == 0);
    // A forked child must not hand out the bytes its parent is about to.
    (void)ar::random_hex(1);  // a block is open in this thread
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::string mine = ar::random_hex(16);
        ssize_t n = write(fds[1], mine.data(), mine.size());
        _exit(n == static_cast<ssize_t>(mine.size()) ? 0 : 1);
    }
    std::string parent = ar::random_hex(16);
    char buf[32];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fds[0], buf + got, sizeof buf - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    REQUIRE(got == sizeof buf);
    CHECK(WIFEXITED(status));
    CHECK(std::string(buf, got) != parent);
}

TEST_CASE("a callback batch posts once per executor, in order, when it closes", "[core]") {
    asio::io_context ctx;
    auto strand = asio::make_strand(ctx.get_executor());
    std::vector<std::string> ran;
    {
        ar::CallbackBatch batch;
        for (const char* s : {"a1", "a2", "a3"})
            ar::CallbackBatch::post_or_batch(ctx.get_executor(), [&ran, s] { ran.push_back(s); });
        ar::CallbackBatch::post_or_batch(strand, [&ran] { ran.push_back("s1"); });
        ar::CallbackBatch::post_or_batch(strand, [&ran] { ran.push_back("s2"); });
        CHECK(ctx.poll() == 0);  // nothing posted while the batch is open
        ctx.restart();
    }
    ctx.poll();
    CHECK(ran == std::vector<std::string>{"a1", "a2", "a3", "s1", "s2"});
    // Without a batch each function is posted on its own.
    ran.clear();
    ctx.restart();
    ar::CallbackBatch::post_or_batch(ctx.get_executor(), [&ran] { ran.push_back("x"); });
    ar::CallbackBatch::post_or_batch(ctx.get_executor(), [&ran] { ran.push_back("y"); });
    CHECK(ctx.poll() == 2);
    CHECK(ran == std::vector<std::string>{"x", "y"});
}
