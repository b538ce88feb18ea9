// send_load: drives `POST /v1/messages` (send_email over HTTP) at a fixed concurrency and
// prints sends per second and latency percentiles. Each client thread keeps one connection.
//
//   send_load --url http://127.0.0.1:8025 --key ar_... --to bob@agents.localhost
//             --concurrency 16 --seconds 10
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", key, to = "sink@bench.test";
    int port = 8025, concurrency = 16;
    double seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--host") host = v;
        else if (a == "--port") port = std::stoi(v);
        else if (a == "--key") key = v;
        else if (a == "--to") to = v;
        else if (a == "--concurrency") concurrency = std::stoi(v);
        else if (a == "--seconds") seconds = std::stod(v);
        else {
            std::fprintf(stderr, "send_load: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    std::string body = "{\"to\":\"" + to + "\",\"subject\":\"bench\",\"text\":\"" + std::string(1500, 'x') + "\"}";
    std::atomic<bool> stop{false};
    std::atomic<long> errors{0};
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    std::vector<std::thread> threads;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < concurrency; ++t) {
        threads.emplace_back([&, t] {
            httplib::Client cli(host, port);
            cli.set_keep_alive(true);
            httplib::Headers h{{"Authorization", "Bearer " + key}};
            while (!stop) {
                auto t0 = std::chrono::steady_clock::now();
                auto res = cli.Post("/v1/messages", h, body, "application/json");
                auto t1 = std::chrono::steady_clock::now();
                if (!res || res->status != 202) {
                    ++errors;
                    continue;
                }
                latencies[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    std::printf("send_load: concurrency %d: %zu sends in %.2f s = %.1f sends/s; p50 %.2f ms, p99 %.2f ms; errors %ld\n",
                concurrency, all.size(), elapsed, all.size() / elapsed, pct(0.50), pct(0.99), errors.load());
    return errors > 0 ? 1 : 0;
}
