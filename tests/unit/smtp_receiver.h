// smtp_receiver.h: the Python SMTP receiver (smtp_receiver.py, aiosmtpd) on loopback, started
// for one test and stopped with it; the tests read what it received from its directory.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <asio.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace test_support {

namespace fs = std::filesystem;

class Receiver {
  public:
    explicit Receiver(std::vector<std::string> options) {
        char tmpl[] = "/tmp/ar_smtp_receiver_XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        // tests/data need not exist, so the path is made lexically, not with "..".
        const fs::path script = fs::path(AR_TEST_DATA_DIR).parent_path() / "unit/smtp_receiver.py";
        std::vector<std::string> args = {
            "/usr/bin/python3", script.string(), "--dir", dir_, "--port", "0"};
        args.insert(args.end(), options.begin(), options.end());
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        int out[2];
        if (pipe(out) != 0) {
            stop();
            FAIL("pipe failed");
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        // Its log (tracebacks of the failed handshakes the tests provoke) stays out of ours.
        const std::string log = dir_ + "/receiver.log";
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        if (spawned != 0) pid_ = 0;
        port_ = spawned == 0 ? wait_ready(out[0]) : 0;
        close(out[0]);
        if (port_ == 0) {
            const std::string log_text = read(log);
            stop(); // the destructor does not run when the constructor fails
            FAIL("the receiver did not start; its log: " << log_text);
        }
    }
    ~Receiver() { stop(); }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;

    asio::ip::tcp::endpoint endpoint() const {
        return {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)};
    }
    const std::string& dir() const { return dir_; }

    // The messages received so far, in order: envelope record and data.
    struct Message {
        nlohmann::json envelope;
        std::string data;
    };
    std::vector<Message> messages() const {
        std::vector<Message> out;
        for (int n = 1;; ++n) {
            char base[16];
            std::snprintf(base, sizeof base, "%03d", n);
            const fs::path json = fs::path(dir_) / (std::string(base) + ".json");
            if (!fs::exists(json)) break;
            Message m;
            m.envelope = nlohmann::json::parse(read(json));
            m.data = read(fs::path(dir_) / (std::string(base) + ".eml"));
            out.push_back(std::move(m));
        }
        return out;
    }

  private:
    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
            pid_ = 0;
        }
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    static std::string read(const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

    // Reads "READY <port>" from the receiver's stdout, within a deadline.
    static int wait_ready(int fd) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        std::string got;
        while (got.find('\n') == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return 0;
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return 0;
            char buf[256];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return 0;
            got.append(buf, static_cast<size_t>(n));
        }
        if (got.rfind("READY ", 0) != 0) return 0;
        return std::atoi(got.c_str() + 6);
    }

    std::string dir_;
    pid_t pid_ = 0;
    int port_ = 0;
};

}  // namespace test_support
