#include "trainrt/dist/buckets.h"

namespace trainrt::dist {

std::vector<std::vector<size_t>> assign_buckets(const std::vector<size_t>& parameter_bytes,
                                                const BucketLimits& limits) {
  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> current;
  size_t current_bytes = 0;
  for (size_t i = parameter_bytes.size(); i-- > 0;) {
    current.push_back(i);
    current_bytes += parameter_bytes[i];
    const size_t limit = buckets.empty() ? limits.first_bucket_bytes : limits.bucket_bytes;
    if (current_bytes >= limit) {
      buckets.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
  }
  if (!current.empty()) buckets.push_back(std::move(current));
  return buckets;
}

}  // namespace trainrt::dist
