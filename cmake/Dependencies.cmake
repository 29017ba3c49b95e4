# Third-party packages, all from Debian 12 (tools/setup installs them).
find_package(Torch REQUIRED)          # LibTorch (libtorch-dev), CPU; or a CUDA build via CMAKE_PREFIX_PATH
find_package(Protobuf REQUIRED)       # config schema (libprotobuf-dev, protobuf-compiler); linked
                                      # through Protobuf_LIBRARIES, because LibTorch's CMake config
                                      # may define an empty protobuf::libprotobuf target of its own
find_package(fmt REQUIRED)            # formatting (libfmt-dev); used header-only, because a
                                      # LibTorch wheel ships fmt headers of another version
find_package(nlohmann_json REQUIRED)  # metrics.jsonl (nlohmann-json3-dev)
find_package(CLI11 REQUIRED)          # command-line parsing (libcli11-dev)
find_package(ZLIB REQUIRED)           # gzipped data files (zlib1g-dev)
find_package(JPEG REQUIRED)           # JPEG decoding (libjpeg62-turbo-dev)
find_package(PNG REQUIRED)            # PNG decoding (libpng-dev)
find_package(Threads REQUIRED)

# LibTorch's CMake config adds its own flags (e.g. -D_GLIBCXX_USE_CXX11_ABI); keep them.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

# Collective backends (dist/), each optional at build time and chosen here, not by #ifdef in code:
# - Gloo (CPU tensors): LibTorch ships ProcessGroupGloo, but its header needs Gloo's own headers
#   (libgloo-dev); a LibTorch wheel ships none, so a CUDA build may carry NCCL alone.
# - NCCL (CUDA tensors): a CUDA LibTorch and nccl.h.
find_path(GLOO_INCLUDE_DIR gloo/algorithm.h)
find_library(GLOO_LIBRARY gloo)
set(TRAINRT_WITH_GLOO OFF)
if(GLOO_INCLUDE_DIR AND GLOO_LIBRARY)
  set(TRAINRT_WITH_GLOO ON)
endif()
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include)
set(TRAINRT_WITH_NCCL OFF)
if((TARGET torch_cuda OR TORCH_CUDA_LIBRARIES) AND NCCL_INCLUDE_DIR)
  set(TRAINRT_WITH_NCCL ON)
endif()
message(STATUS "trainrt collective backends: gloo=${TRAINRT_WITH_GLOO} nccl=${TRAINRT_WITH_NCCL}")

# TensorBoard event files (obs/) frame records with CRC-32C, which Intel's ISA-L computes
# (libisal-dev). Optional, for machines that cannot install it (the GPU image): without it a run
# that asks for event files is told so, and everything else works.
find_path(ISAL_INCLUDE_DIR isa-l/crc.h)
find_library(ISAL_LIBRARY isal)
set(TRAINRT_WITH_TENSORBOARD OFF)
if(ISAL_INCLUDE_DIR AND ISAL_LIBRARY)
  set(TRAINRT_WITH_TENSORBOARD ON)
endif()
message(STATUS "trainrt TensorBoard event files: ${TRAINRT_WITH_TENSORBOARD}")
