// defines: sum_over_ranks, max_over_ranks
//
// Small reductions of host values over the ranks of a data-parallel group: the trainer's interval
// metrics and evaluation totals (sums), and the ranks' stop agreement (a maximum). Collective: every
// rank calls them in the same order. A null communicator (a single process) leaves values as they are.
#pragma once

#include <vector>

#include "trainrt/dist/communicator.h"

namespace trainrt::dist {

// Sums `values` over all ranks, in place.
void sum_over_ranks(Communicator* communicator, std::vector<double>& values);

// The largest `value` over all ranks.
int max_over_ranks(Communicator* communicator, int value);

// The largest of each of `values` over all ranks, in one all-reduce.
std::vector<int> max_over_ranks(Communicator* communicator, std::vector<int> values);

}  // namespace trainrt::dist
