#include "trainrt/dist/rank_reduce.h"

namespace trainrt::dist {

void sum_over_ranks(Communicator* communicator, std::vector<double>& values) {
  if (!communicator) return;
  auto tensor = torch::tensor(values, torch::kFloat64).to(communicator->device());
  communicator->all_reduce(tensor, ReduceOp::kSum)->wait();
  tensor = tensor.cpu();
  const double* sums = tensor.data_ptr<double>();
  values.assign(sums, sums + values.size());
}

int max_over_ranks(Communicator* communicator, int value) {
  return max_over_ranks(communicator, std::vector<int>{value})[0];
}

std::vector<int> max_over_ranks(Communicator* communicator, std::vector<int> values) {
  if (!communicator) return values;
  auto tensor = torch::tensor(values, torch::kInt32).to(communicator->device());
  communicator->all_reduce(tensor, ReduceOp::kMax)->wait();
  tensor = tensor.cpu();
  const int* maxima = tensor.data_ptr<int>();
  return {maxima, maxima + values.size()};
}

}  // namespace trainrt::dist
