// retention.h: deletes what the retention lets go (sent messages whose recipients are all
// final, inbox messages and bounces older than the cut-off) from every agent's store, one
// batch per store a pass, so a first purge of a large store goes on pass by pass. The
// suppression list is kept. Runs on the engine's store pool; logs what it removed.
#pragma once

#include <cstdint>

#include "store/data_dir.h"

namespace ar::delivery {

// One batch (at most `batch` rows of each kind) per store of what is older than before_ms;
// true if any store has more to delete. `days` is the retention, for the log.
bool purge_expired(store::DataDir& data, int64_t before_ms, int batch, int64_t days);

} // namespace ar::delivery
