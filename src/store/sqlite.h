// sqlite.h: a thin RAII layer over SQLite3 for the stores.
//
// Db owns one connection and caches its prepared statements: prepare() hands out the cached
// statement for the same SQL (reset when the Stmt goes away) unless it is in use, so the hot
// paths do not compile SQL on every call. Errors are thrown as
// StoreError (a std::runtime_error) inside the store layer only: the store's
// public functions catch them and return ar::Error values to the core.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ar::store {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Stmt;

class Db {
  public:
    Db() = default;
    // Opens (creating if needed) a database in WAL mode with synchronous=FULL: a commit
    // has reached the disk (fsync) when it returns. busy_timeout lets several processes share it.
    explicit Db(const std::string& path, bool read_only = false);
    ~Db();
    Db(Db&& o) noexcept : db_(o.db_), cache_(std::move(o.cache_)) { o.db_ = nullptr; }
    Db& operator=(Db&& o) noexcept;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    sqlite3* handle() const { return db_; }
    void exec(const char* sql);
    Stmt prepare(std::string_view sql);
    int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
    int changes() const { return sqlite3_changes(db_); }
    int user_version();
    void set_user_version(int v);

  private:
    struct Cached {
        sqlite3_stmt* stmt = nullptr;
        bool in_use = false;
    };
    void finalize_cache();
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, Cached> cache_;  // node-based: entries never move
};

class Stmt {
  public:
    Stmt(sqlite3* db, std::string_view sql);
    // A cached statement lent by Db: reset, not finalized, when this Stmt goes away.
    Stmt(sqlite3* db, sqlite3_stmt* borrowed, bool* in_use) : db_(db), st_(borrowed), in_use_(in_use) {}
    ~Stmt();
    Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_), in_use_(o.in_use_) {
        o.st_ = nullptr;
        o.in_use_ = nullptr;
    }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, std::string_view v);
    Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, int64_t v);
    Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
    Stmt& bind(int i, std::nullptr_t);
    Stmt& bind_blob(int i, std::string_view v);
    template <class T> Stmt& bind(int i, const std::optional<T>& v) {
        if (v) return bind(i, *v);
        return bind(i, nullptr);
    }

    // Steps once: true while a row is available.
    bool step();
    // Runs to completion (for statements without results).
    void run();
    void reset();

    bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
    int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }
    std::string text(int col) const;
    std::optional<int64_t> opt_int64(int col) const;
    std::optional<std::string> opt_text(int col) const;

  private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
    bool* in_use_ = nullptr;  // set for a statement borrowed from Db's cache
};

// RAII transaction: BEGIN IMMEDIATE on construction, ROLLBACK unless commit() was called.
class Transaction {
  public:
    explicit Transaction(Db& db);
    ~Transaction();
    void commit();

  private:
    Db& db_;
    bool done_ = false;
};

}  // namespace ar::store
