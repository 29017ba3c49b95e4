// defines: available_cores, default_compute_threads, configure_process_runtime
//
// Process-wide settings a training process needs before its first tensor op. Debian's LibTorch
// starts with one intra-op thread; glibc's malloc returns large freed blocks to the kernel, so every
// step page-faults its activations back in (measured: 2.2x slower steps on the default CNN).
#pragma once

namespace trainrt {

// Cores this process may run on (its CPU affinity mask, not the machine's core count).
int available_cores();

// Compute threads when the config asks for "automatic": the available cores shared among the
// processes of this node (LOCAL_WORLD_SIZE), at least 1.
int default_compute_threads(int local_world_size);

// Sets LibTorch's intra-op threads and keeps freed activation memory in the process heap instead of
// handing it back to the kernel after every step. Call once, before training.
void configure_process_runtime(int compute_threads);

}  // namespace trainrt
