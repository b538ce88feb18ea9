#include "store/migrate.h"

#include <string>

namespace ar::store {

void migrate(Db& db, const std::vector<const char*>& migrations, const char* what) {
    Transaction tx(db);
    int have = db.user_version();
    int want = static_cast<int>(migrations.size());
    if (have > want)
        throw StoreError(std::string(what) + " has schema version " + std::to_string(have) +
                         ", newer than this agentrelay knows (" + std::to_string(want) + ")");
    for (int v = have; v < want; ++v) db.exec(migrations[static_cast<size_t>(v)]);
    if (have != want) db.set_user_version(want);
    tx.commit();
}

}  // namespace ar::store
