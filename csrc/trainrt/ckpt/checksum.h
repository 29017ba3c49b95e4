// defines: crc32_of — the checksum a checkpoint manifest records for each file (zlib's CRC-32).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <zlib.h>

namespace trainrt::ckpt {

inline uint32_t crc32_of(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t offset = 0; offset < bytes.size();) {  // zlib takes at most 4 GiB per call
    const uInt chunk = static_cast<uInt>(std::min<size_t>(bytes.size() - offset, size_t{1} << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + offset), chunk);
    offset += chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace trainrt::ckpt
