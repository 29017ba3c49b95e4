#include "trainrt/core/runtime.h"

#include <malloc.h>
#include <sched.h>

#include <algorithm>

#include <ATen/Parallel.h>

namespace trainrt {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int default_compute_threads(int local_world_size) {
  return std::max(1, available_cores() / std::max(1, local_world_size));
}

void configure_process_runtime(int compute_threads) {
  at::set_num_threads(std::max(1, compute_threads));
  // Activations of a step are allocated and freed in the same sizes every step. By default glibc
  // serves blocks above a dynamic threshold with mmap and trims the heap top on free, so each step
  // faults tens of MB of fresh zeroed pages in again. Raise the mmap threshold to its maximum (32 MiB
  // on 64-bit) and never trim: the heap keeps those pages and the next step reuses them.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1 (as unsigned: "infinite") disables trimming.
}

}  // namespace trainrt
