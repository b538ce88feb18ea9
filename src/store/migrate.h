// migrate.h: schema versions from day one.
//
// A database's PRAGMA user_version is the number of migrations applied. Each
// migration is one SQL script; migrate() applies the missing ones in order, in
// one transaction, and refuses a database newer than this build knows.
#pragma once

#include <vector>

#include "store/sqlite.h"

namespace ar::store {

void migrate(Db& db, const std::vector<const char*>& migrations, const char* what);

}  // namespace ar::store
