#include "trainrt/ckpt/checksum.h"

#include <algorithm>

// ISA-L is found with TensorBoard's event files (cmake/Dependencies.cmake), whose CRC-32C it computes.
#if TRAINRT_WITH_TENSORBOARD
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

namespace trainrt::ckpt {

void Crc32::update(const char* data, size_t size) {
#if TRAINRT_WITH_TENSORBOARD
  crc_ = crc32_gzip_refl(crc_, reinterpret_cast<const unsigned char*>(data), size);
#else
  while (size > 0) {  // zlib takes at most 4 GiB per call
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, size_t{1} << 30));
    crc_ = static_cast<uint32_t>(crc32(crc_, reinterpret_cast<const Bytef*>(data), chunk));
    data += chunk;
    size -= chunk;
  }
#endif
}

uint32_t crc32_of(const std::string& bytes) {
  Crc32 crc;
  crc.update(bytes.data(), bytes.size());
  return crc.value();
}

}  // namespace trainrt::ckpt
