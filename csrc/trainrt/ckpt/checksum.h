// defines: crc32_of, Crc32 — the checksum a checkpoint manifest records for each file (zlib's CRC-32).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <zlib.h>

namespace trainrt::ckpt {

// CRC-32 of data arriving piece by piece.
class Crc32 {
 public:
  void update(const char* data, size_t size) {
    while (size > 0) {  // zlib takes at most 4 GiB per call
      const uInt chunk = static_cast<uInt>(std::min<size_t>(size, size_t{1} << 30));
      crc_ = crc32(crc_, reinterpret_cast<const Bytef*>(data), chunk);
      data += chunk;
      size -= chunk;
    }
  }
  uint32_t value() const { return static_cast<uint32_t>(crc_); }

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

inline uint32_t crc32_of(const std::string& bytes) {
  Crc32 crc;
  crc.update(bytes.data(), bytes.size());
  return crc.value();
}

}  // namespace trainrt::ckpt
