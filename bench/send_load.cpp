// send_load: drives `POST /v1/messages` (send_email over HTTP) at a fixed concurrency and
// prints sends per second and latency percentiles. Each client thread keeps one connection.
//
//   send_load --port 8025 --key ar_... --to sink@bench.test --concurrency 16 --seconds 10
//   send_load --port 8025 --key ar_... --to 'sink@d{i}.slow.test' --concurrency 64 --count 1000
//
// --seconds runs for a fixed time; --count sends exactly that many messages (in total, shared
// by the clients) and stops. In --to, "{i}" becomes the send's number (0, 1, 2, ...), so every
// message can go to a different recipient domain. Before the clock starts, every client opens
// its connection with GET /healthz (keep-alive), so connection setup is not in the figures.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string recipient(const std::string& pattern, long i) {
    std::string out = pattern;
    auto at = out.find("{i}");
    if (at != std::string::npos) out.replace(at, 3, std::to_string(i));
    return out;
}

std::string body_for(const std::string& to) {
    return "{\"to\":\"" + to + "\",\"subject\":\"bench\",\"text\":\"" + std::string(1500, 'x') +
           "\"}";
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", key, to = "sink@bench.test";
    int port = 8025, concurrency = 16;
    double seconds = 10;
    long count = 0; // 0: run for `seconds`
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--host")
            host = v;
        else if (a == "--port")
            port = std::stoi(v);
        else if (a == "--key")
            key = v;
        else if (a == "--to")
            to = v;
        else if (a == "--concurrency")
            concurrency = std::stoi(v);
        else if (a == "--seconds")
            seconds = std::stod(v);
        else if (a == "--count")
            count = std::stol(v);
        else {
            std::fprintf(stderr, "send_load: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (concurrency < 1 || key.empty()) {
        std::fprintf(stderr, "send_load: needs --key and a positive --concurrency\n");
        return 2;
    }
    const bool templated = to.find("{i}") != std::string::npos;
    const std::string fixed_body = body_for(to);
    std::atomic<bool> stop{false};
    std::atomic<long> next{0};
    std::atomic<long> errors{0};
    std::mutex first_error_mu;
    std::string first_error;
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    std::vector<std::thread> threads;
    std::latch connected(concurrency + 1);
    for (int t = 0; t < concurrency; ++t) {
        threads.emplace_back([&, t] {
            httplib::Client cli(host, port);
            cli.set_keep_alive(true);
            cli.set_tcp_nodelay(true); // headers and body go in two writes: no Nagle stall
            cli.set_read_timeout(60, 0);
            httplib::Headers h{{"Authorization", "Bearer " + key}};
            auto warm = cli.Get("/healthz");
            if (!warm || warm->status != 200) {
                ++errors;
                std::lock_guard lk(first_error_mu);
                if (first_error.empty()) first_error = "GET /healthz failed";
            }
            connected.arrive_and_wait();
            while (!stop) {
                long i = next++;
                if (count > 0 && i >= count) break;
                std::string body = templated ? body_for(recipient(to, i)) : fixed_body;
                auto t0 = std::chrono::steady_clock::now();
                auto res = cli.Post("/v1/messages", h, body, "application/json");
                auto t1 = std::chrono::steady_clock::now();
                if (!res || res->status != 202) {
                    ++errors;
                    std::lock_guard lk(first_error_mu);
                    if (first_error.empty())
                        first_error = res ? std::to_string(res->status) + " " + res->body
                                          : "no answer: " + httplib::to_string(res.error());
                    if (count > 0) break; // a counted run must not spin on a refusing server
                    continue;
                }
                latencies[static_cast<size_t>(t)].push_back(
                    std::chrono::duration<double, std::milli>(t1 - t0).count());
            }
        });
    }
    connected.arrive_and_wait();
    auto start = std::chrono::steady_clock::now();
    if (count == 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        stop = true;
    }
    for (auto& th : threads)
        th.join();
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
        return all.empty() ? 0.0
                           : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
    };
    std::printf(
        "send_load: concurrency %d: %zu sends in %.2f s = %.1f sends/s; p50 %.2f ms, p99 %.2f ms; "
        "errors %ld\n",
        concurrency, all.size(), elapsed, static_cast<double>(all.size()) / elapsed, pct(0.50),
        pct(0.99), errors.load());
    if (!first_error.empty())
        std::fprintf(stderr, "send_load: first error: %.300s\n", first_error.c_str());
    return errors > 0 ? 1 : 0;
}
