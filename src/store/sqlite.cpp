#include "store/sqlite.h"

#include <string>

namespace ar::store {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
    throw StoreError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}
}  // namespace

Db::Db(const std::string& path, bool read_only) {
    int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        std::string msg = "cannot open " + path;
        if (db_) msg += std::string(": ") + sqlite3_errmsg(db_);
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError(msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    if (!read_only) exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
}

Db::~Db() {
    finalize_cache();
    if (db_) sqlite3_close_v2(db_);
}

void Db::finalize_cache() {
    for (auto& [sql, c] : cache_) sqlite3_finalize(c.stmt);
    cache_.clear();
}

Db& Db::operator=(Db&& o) noexcept {
    if (this != &o) {
        finalize_cache();
        if (db_) sqlite3_close_v2(db_);
        db_ = o.db_;
        cache_ = std::move(o.cache_);
        o.db_ = nullptr;
    }
    return *this;
}

void Db::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw StoreError(std::string("sql failed: ") + msg);
    }
}

Stmt Db::prepare(std::string_view sql) {
    auto it = cache_.find(std::string(sql));
    if (it == cache_.end()) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st,
                               nullptr) != SQLITE_OK)
            fail(db_, "prepare '" + std::string(sql.substr(0, 60)) + "'");
        it = cache_.emplace(std::string(sql), Cached{st, false}).first;
    }
    if (it->second.in_use) return Stmt(db_, sql);  // the same SQL twice at once: a private copy
    it->second.in_use = true;
    return Stmt(db_, it->second.stmt, &it->second.in_use);
}

int Db::user_version() {
    Stmt s(db_, "PRAGMA user_version");
    s.step();
    return static_cast<int>(s.int64(0));
}

void Db::set_user_version(int v) {
    exec(("PRAGMA user_version=" + std::to_string(v)).c_str());
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, nullptr) != SQLITE_OK)
        fail(db, "prepare '" + std::string(sql.substr(0, 60)) + "'");
}

Stmt::~Stmt() {
    if (!st_) return;
    if (in_use_) {
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
        *in_use_ = false;
    } else {
        sqlite3_finalize(st_);
    }
}

Stmt& Stmt::bind(int i, std::string_view v) {
    if (sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        fail(db_, "bind");
    return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
    if (sqlite3_bind_int64(st_, i, v) != SQLITE_OK) fail(db_, "bind");
    return *this;
}

Stmt& Stmt::bind(int i, std::nullptr_t) {
    if (sqlite3_bind_null(st_, i) != SQLITE_OK) fail(db_, "bind");
    return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view v) {
    if (sqlite3_bind_blob(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        fail(db_, "bind");
    return *this;
}

bool Stmt::step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
}

void Stmt::run() {
    while (step()) {
    }
}

void Stmt::reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
}

std::string Stmt::text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(st_, col));
    int n = sqlite3_column_bytes(st_, col);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}

std::optional<int64_t> Stmt::opt_int64(int col) const {
    if (is_null(col)) return std::nullopt;
    return int64(col);
}

std::optional<std::string> Stmt::opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
}

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (...) {
        }
    }
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace ar::store
