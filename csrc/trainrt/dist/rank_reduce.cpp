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
  if (!communicator) return value;
  auto tensor = torch::tensor({value}, torch::kInt32).to(communicator->device());
  communicator->all_reduce(tensor, ReduceOp::kMax)->wait();
  return tensor.item<int>();
}

}  // namespace trainrt::dist
