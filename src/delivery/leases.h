// leases.h: who holds a recipient being delivered, and reaping the leases of the dead.
//
// A process claims due recipients under its lease owner, "HOST/PID/RANDOM", so that no two
// processes on one data dir send the same recipient. A lease whose owner is a process on
// this host that no longer runs (it crashed, or was killed with -9) is released at once, so
// a crash delays nothing: the next scan picks the mail up again. Leases of other hosts, and
// of live processes, run out on their own (the claim's lease time).
#pragma once

#include <string>

#include "store/data_dir.h"

namespace ar::delivery {

// A fresh lease owner for this process on `host`.
std::string make_lease_owner(const std::string& host);

// Whether `lease_owner` names a process on `host`, other than `self`, that no longer runs.
bool lease_owner_is_dead(const std::string& lease_owner, const std::string& self, const std::string& host);

// Releases, in every agent's store, the leases whose owner is dead (lease_owner_is_dead).
void release_dead_leases(store::DataDir& data, const std::string& self, const std::string& host);

} // namespace ar::delivery
